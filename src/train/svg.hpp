// Internal: the pieces of hand-written SVG charts (curves.svg, the zoo chart).
#pragma once
#include <string>
#include <vector>

namespace cnnzoo::train::svg {

// Text with <, > and & escaped.
std::string escape(const std::string& s);
// Round tick positions (1, 2 or 5 times a power of ten apart) covering [lo, hi], at most
// about `most` of them; lo and hi widen to the outer ticks.
std::vector<double> nice_ticks(double& lo, double& hi, int most);
// A tick label: as many decimals as the tick step needs, trailing zeros dropped.
std::string tick_label(double v, double step, bool percent);

}  // namespace cnnzoo::train::svg
