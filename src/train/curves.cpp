// curves.svg: two panels (loss, accuracy) against epoch, train and test, as plain SVG.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "cnnzoo/train/trainer.hpp"

namespace cnnzoo::train {

namespace {

struct Series {
  std::string label, color;
  std::vector<double> y;
};

std::string fmt(double v, const char* f = "%.3g") {
  char b[32];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

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

// One panel at (x0, y0) of size w x h.
void panel(std::ostringstream& os, double x0, double y0, double w, double h,
           const std::string& title, const std::vector<double>& epochs,
           const std::vector<Series>& series, bool percent) {
  double lo = 1e300, hi = -1e300;
  for (const auto& s : series)
    for (double v : s.y)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (lo > hi) lo = 0, hi = 1;
  if (hi - lo < 1e-9) hi = lo + 1;
  double pad = 0.05 * (hi - lo);
  lo -= pad, hi += pad;
  double e0 = epochs.empty() ? 0 : epochs.front(), e1 = epochs.empty() ? 1 : epochs.back();
  if (e1 <= e0) e1 = e0 + 1;
  auto X = [&](double e) { return x0 + 50 + (w - 60) * (e - e0) / (e1 - e0); };
  auto Y = [&](double v) { return y0 + h - 30 - (h - 50) * (v - lo) / (hi - lo); };
  os << "<text x='" << x0 + w / 2 << "' y='" << y0 + 14
     << "' text-anchor='middle' font-weight='bold'>" << title << "</text>\n";
  os << "<rect x='" << x0 + 50 << "' y='" << y0 + 20 << "' width='" << w - 60 << "' height='"
     << h - 50 << "' fill='none' stroke='#888'/>\n";
  for (int i = 0; i <= 4; ++i) {
    double v = lo + (hi - lo) * i / 4;
    os << "<text x='" << x0 + 46 << "' y='" << Y(v) + 4 << "' text-anchor='end' font-size='10'>"
       << (percent ? fmt(100 * v, "%.1f%%") : fmt(v)) << "</text>\n";
    os << "<line x1='" << x0 + 50 << "' x2='" << x0 + w - 10 << "' y1='" << Y(v) << "' y2='" << Y(v)
       << "' stroke='#eee'/>\n";
  }
  os << "<text x='" << x0 + w / 2 << "' y='" << y0 + h - 5
     << "' text-anchor='middle' font-size='11'>epoch</text>\n";
  os << "<text x='" << X(e0) << "' y='" << y0 + h - 18 << "' font-size='10'>" << fmt(e0)
     << "</text><text x='" << X(e1) << "' y='" << y0 + h - 18
     << "' text-anchor='end' font-size='10'>" << fmt(e1) << "</text>\n";
  int li = 0;
  for (const auto& s : series) {
    os << "<polyline fill='none' stroke='" << s.color << "' stroke-width='2' points='";
    for (size_t i = 0; i < s.y.size(); ++i) os << X(epochs[i]) << "," << Y(s.y[i]) << " ";
    os << "'/>\n";
    for (size_t i = 0; i < s.y.size(); ++i)
      os << "<circle cx='" << X(epochs[i]) << "' cy='" << Y(s.y[i]) << "' r='2.5' fill='" << s.color
         << "'/>\n";
    os << "<text x='" << x0 + 60 << "' y='" << y0 + 36 + 14 * li++ << "' font-size='11' fill='"
       << s.color << "'>" << s.label << "</text>\n";
  }
}

}  // namespace

std::string render_curves_svg(const std::vector<EpochMetrics>& history, const std::string& title) {
  std::vector<double> ep;
  Series trl{"train loss", "#1f77b4", {}}, tel{"test loss", "#d62728", {}};
  Series tra{"train accuracy", "#1f77b4", {}}, tea{"test accuracy", "#d62728", {}};
  for (const auto& m : history) {
    ep.push_back(static_cast<double>(m.epoch));
    trl.y.push_back(m.train_loss);
    tel.y.push_back(m.test_loss);
    tra.y.push_back(m.train_acc);
    tea.y.push_back(m.test_acc);
  }
  std::ostringstream os;
  os << "<svg xmlns='http://www.w3.org/2000/svg' width='900' height='360' "
        "font-family='sans-serif'>\n<rect width='100%' height='100%' fill='white'/>\n";
  os << "<text x='450' y='18' text-anchor='middle' font-size='15'>" << escape(title) << "</text>\n";
  panel(os, 0, 24, 450, 330, "loss", ep, {trl, tel}, false);
  panel(os, 450, 24, 450, 330, "accuracy", ep, {tra, tea}, true);
  os << "</svg>\n";
  return os.str();
}

}  // namespace cnnzoo::train
