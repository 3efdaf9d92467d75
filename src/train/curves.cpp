// curves.svg: loss, accuracy and learning rate against epochs, as plain SVG: the training
// curve per interval (about 1/50 epoch), the test results as points at each epoch's end.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "cnnzoo/train/trainer.hpp"
#include "train/svg.hpp"

namespace cnnzoo::train {

namespace svg {

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else
      o += c;
  }
  return o;
}

// Round tick positions (1, 2 or 5 times a power of ten apart) covering [lo, hi], at most
// about `most` of them; lo and hi widen to the outer ticks.
std::vector<double> nice_ticks(double& lo, double& hi, int most) {
  if (!(hi > lo)) hi = lo + (lo == 0 ? 1 : std::abs(lo) * 0.1);
  const double raw = (hi - lo) / most, mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * mag;
  for (double m : {1.0, 2.0, 5.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  lo = std::floor(lo / step + 1e-9) * step;
  hi = std::ceil(hi / step - 1e-9) * step;
  std::vector<double> t;
  for (double v = lo; v <= hi + step * 1e-6; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
  return t;
}

// A tick label: as many decimals as the tick step needs, trailing zeros dropped
// ("0", "0.2", "1"; "40%"; "0.0005").
std::string tick_label(double v, double step, bool percent) {
  if (percent) v *= 100, step *= 100;
  const int decimals = std::clamp(static_cast<int>(std::ceil(-std::log10(step) - 1e-9)), 0, 8);
  char b[48];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  std::string s = b;
  if (s.find('.') != std::string::npos) {
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return percent ? s + "%" : s;
}

}  // namespace svg

namespace {

using svg::escape;
using svg::nice_ticks;
using svg::tick_label;

struct Series {
  std::string label, color;
  std::vector<double> x, y;
  bool dots;  // points (test results) rather than a line (the training curve)
};

// One panel at (x0, y0) of size w x h, epochs from 0 to e1 on the x axis; the legend in the
// top right corner, or the bottom right one where the curves rise (accuracy).
void panel(std::ostringstream& os, double x0, double y0, double w, double h,
           const std::string& title, double e1, const std::vector<Series>& series, bool percent,
           bool legend_at_bottom) {
  double lo = 1e300, hi = -1e300;
  for (const auto& s : series)
    for (double v : s.y)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (lo > hi) lo = 0, hi = 1;
  if (percent) lo = std::max(0.0, lo), hi = std::min(1.0, hi);
  std::vector<double> yt = nice_ticks(lo, hi, 5);
  double e0 = 0;
  std::vector<double> xt = nice_ticks(e0, e1, 5);
  const double left = x0 + 56, right = x0 + w - 12, top = y0 + 24, bottom = y0 + h - 34;
  auto X = [&](double e) { return left + (right - left) * (e - e0) / (e1 - e0); };
  auto Y = [&](double v) { return bottom - (bottom - top) * (v - lo) / (hi - lo); };
  os << "<text x='" << (left + right) / 2 << "' y='" << y0 + 14
     << "' text-anchor='middle' font-weight='bold'>" << title << "</text>\n";
  const double ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
  for (double v : yt) {
    os << "<line x1='" << left << "' x2='" << right << "' y1='" << Y(v) << "' y2='" << Y(v)
       << "' stroke='#e8e8e8'/>\n";
    os << "<text x='" << left - 5 << "' y='" << Y(v) + 4 << "' text-anchor='end' font-size='11'>"
       << tick_label(v, ystep, percent) << "</text>\n";
  }
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1;
  for (double e : xt) {
    os << "<line x1='" << X(e) << "' x2='" << X(e) << "' y1='" << top << "' y2='" << bottom
       << "' stroke='#e8e8e8'/>\n";
    os << "<text x='" << X(e) << "' y='" << bottom + 15 << "' text-anchor='middle' font-size='11'>"
       << tick_label(e, xstep, false) << "</text>\n";
  }
  os << "<rect x='" << left << "' y='" << top << "' width='" << right - left << "' height='"
     << bottom - top << "' fill='none' stroke='#888'/>\n";
  os << "<text x='" << (left + right) / 2 << "' y='" << y0 + h - 4
     << "' text-anchor='middle' font-size='12'>epoch</text>\n";
  int li = 0;
  for (const auto& s : series) {
    if (s.y.empty()) continue;
    if (!s.dots || s.y.size() > 1) {
      os << "<polyline fill='none' stroke='" << s.color << "' stroke-width='" << (s.dots ? 2 : 1.5)
         << "' points='";
      for (size_t i = 0; i < s.y.size(); ++i)
        if (std::isfinite(s.y[i])) os << X(s.x[i]) << "," << Y(s.y[i]) << " ";
      os << "'/>\n";
    }
    if (s.dots)
      for (size_t i = 0; i < s.y.size(); ++i)
        if (std::isfinite(s.y[i]))
          os << "<circle cx='" << X(s.x[i]) << "' cy='" << Y(s.y[i]) << "' r='4' fill='" << s.color
             << "'/>\n";
    const double ly =
        legend_at_bottom ? bottom - 8 - 15 * (series.size() - 1 - li) : top + 16 + 15 * li;
    ++li;
    os << "<text x='" << right - 8 << "' y='" << ly << "' text-anchor='end' font-size='12' fill='"
       << s.color << "'>" << s.label << "</text>\n";
  }
}

}  // namespace

std::string render_curves_svg(const std::vector<EpochMetrics>& history,
                              const std::vector<CurvePoint>& curve, const std::string& title) {
  Series trl{"train loss (per interval)", "#1f77b4", {}, {}, false};
  Series tra{"train accuracy (per interval)", "#1f77b4", {}, {}, false};
  Series lr{"learning rate", "#2ca02c", {}, {}, false};
  Series tel{"test loss (epoch end)", "#d62728", {}, {}, true};
  Series tea{"test accuracy (epoch end)", "#d62728", {}, {}, true};
  double e1 = 1;
  for (const auto& c : curve) {
    trl.x.push_back(c.epoch), trl.y.push_back(c.train_loss);
    tra.x.push_back(c.epoch), tra.y.push_back(c.train_acc);
    lr.x.push_back(c.epoch), lr.y.push_back(c.lr);
    e1 = std::max(e1, c.epoch);
  }
  for (const auto& m : history) {
    const double e = static_cast<double>(m.epoch);
    tel.x.push_back(e), tel.y.push_back(m.test_loss);
    tea.x.push_back(e), tea.y.push_back(m.test_acc);
    e1 = std::max(e1, e);
    if (curve.empty()) {  // runs from before per-interval curves: one point per epoch
      trl.x.push_back(e), trl.y.push_back(m.train_loss);
      tra.x.push_back(e), tra.y.push_back(m.train_acc);
      lr.x.push_back(e), lr.y.push_back(m.lr);
    }
  }
  std::ostringstream os;
  os << "<svg xmlns='http://www.w3.org/2000/svg' width='1100' height='380' "
        "font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n";
  os << "<text x='550' y='18' text-anchor='middle' font-size='15'>" << escape(title) << "</text>\n";
  panel(os, 0, 26, 420, 350, "loss", e1, {trl, tel}, false, false);
  panel(os, 420, 26, 420, 350, "accuracy", e1, {tra, tea}, true, true);
  panel(os, 840, 26, 260, 350, "learning rate", e1, {lr}, false, false);
  os << "</svg>\n";
  return os.str();
}

}  // namespace cnnzoo::train
