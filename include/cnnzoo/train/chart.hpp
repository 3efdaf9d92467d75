// The accuracy-compute chart of the zoo: accuracy against multiply-adds (marker area for
// parameters), and measured inference speed against multiply-adds, as one SVG.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cnnzoo::train {

struct ChartPoint {
  std::string model, family;
  int64_t params = 0, macs = 0;   // per image
  double paper_accuracy = -1;     // percent, 100 - the paper's CIFAR-10 error; -1: none
  double measured_accuracy = -1;  // percent, cnnzoo's own training; -1: none
  double images_per_s = -1;       // measured inference speed; -1: none
};

// Top panel: the papers' CIFAR-10 test error (open circles) and cnnzoo's measured error
// (filled, joined to the paper's point of the same model) against multiply-adds (log scale);
// bottom panel: inference images/s against multiply-adds (both log scales). Marker area is
// proportional to parameters; every point is labelled. `note` goes under the title.
std::string render_zoo_chart(const std::vector<ChartPoint>& points, const std::string& note);

}  // namespace cnnzoo::train
