// The zoo's accuracy-compute chart as plain SVG (see chart.hpp).
#include "cnnzoo/train/chart.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "train/svg.hpp"

namespace cnnzoo::train {

namespace {

struct Box {
  double x0, y0, x1, y1;
  bool overlaps(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};

struct Frame {
  double left, right, top, bottom;
  double x_lo, x_hi, y_lo, y_hi;  // data ranges (log10 where the axis is logarithmic)
  bool y_down = false;            // y grows downwards (small errors at the top)
  double X(double v) const {
    return left + (right - left) * (std::log10(v) - x_lo) / (x_hi - x_lo);
  }
  double Y(double v) const {
    const double t = (std::log10(v) - y_lo) / (y_hi - y_lo);
    return y_down ? top + (bottom - top) * t : bottom - (bottom - top) * t;
  }
};

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

// "10M", "1G", "100k": a power-of-ten count.
std::string power_label(double v) {
  const char* units[] = {"", "k", "M", "G", "T"};
  int u = 0;
  while (v >= 1000 && u < 4) v /= 1000, ++u;
  char b[32];
  std::snprintf(b, sizeof b, "%g%s", v, units[u]);
  return b;
}

// Families keep their colour in both panels.
std::string family_colour(const std::string& family, std::map<std::string, std::string>& given) {
  static const char* palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                  "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
  auto it = given.find(family);
  if (it != given.end()) return it->second;
  const std::string c = palette[given.size() % 10];
  given[family] = c;
  return c;
}

double radius(int64_t params, double scale) {
  return std::max(2.0, scale * std::sqrt(static_cast<double>(params) / 1e6));
}

void log_range(double lo, double hi, double& a, double& b) {
  a = std::floor(std::log10(lo));
  b = std::ceil(std::log10(hi));
  if (b <= a) b = a + 1;
}

void axes(std::ostringstream& os, const Frame& f, const std::string& x_title,
          const std::string& y_title, bool y_percent) {
  for (double e = f.x_lo; e <= f.x_hi + 1e-9; ++e) {
    const double x = f.X(std::pow(10.0, e));
    os << "<line x1='" << fmt(x) << "' x2='" << fmt(x) << "' y1='" << f.top << "' y2='" << f.bottom
       << "' stroke='#e4e4e4'/>\n<text x='" << fmt(x) << "' y='" << f.bottom + 15
       << "' text-anchor='middle' font-size='11'>" << power_label(std::pow(10.0, e)) << "</text>\n";
  }
  // 1, 2, 3 and 5 times each power of ten inside the range.
  for (double e = std::floor(f.y_lo); e <= std::ceil(f.y_hi); ++e)
    for (double m : {1.0, 2.0, 3.0, 5.0}) {
      const double v = m * std::pow(10.0, e);
      if (std::log10(v) < f.y_lo - 1e-9 || std::log10(v) > f.y_hi + 1e-9) continue;
      if (!y_percent && m != 1.0) continue;
      const double y = f.Y(v);
      char label[32];
      std::snprintf(label, sizeof label, "%g%%", v);
      os << "<line x1='" << f.left << "' x2='" << f.right << "' y1='" << fmt(y) << "' y2='"
         << fmt(y) << "' stroke='#e4e4e4'/>\n<text x='" << f.left - 5 << "' y='" << fmt(y + 4)
         << "' text-anchor='end' font-size='11'>" << (y_percent ? label : power_label(v))
         << "</text>\n";
    }
  os << "<rect x='" << f.left << "' y='" << f.top << "' width='" << f.right - f.left << "' height='"
     << f.bottom - f.top << "' fill='none' stroke='#888'/>\n";
  os << "<text x='" << (f.left + f.right) / 2 << "' y='" << f.bottom + 32
     << "' text-anchor='middle' font-size='12'>" << x_title << "</text>\n";
  os << "<text transform='translate(" << f.left - 44 << "," << (f.top + f.bottom) / 2
     << ") rotate(-90)' text-anchor='middle' font-size='12'>" << y_title << "</text>\n";
}

// Labels placed greedily: the first of a few spots around the marker that overlaps no
// label placed before (else the first spot).
class Labeller {
 public:
  void place(std::ostringstream& os, double x, double y, double r, const std::string& text,
             const std::string& colour, const Frame& f) {
    const double w = 5.6 * static_cast<double>(text.size()), h = 11;
    const double spots[][2] = {{r + 2, 4},           {r + 2, -r - 2},     {-w - r - 2, 4},
                               {-w / 2, -r - 3},     {-w / 2, r + h + 1}, {r + 2, r + h},
                               {-w - r - 2, -r - 2}, {-w - r - 2, r + h}};
    Box chosen{};
    bool found = false;
    for (const auto& s : spots) {
      const Box b{x + s[0], y + s[1] - h + 2, x + s[0] + w, y + s[1] + 2};
      const bool inside = b.x0 >= f.left && b.x1 <= f.right && b.y0 >= f.top && b.y1 <= f.bottom;
      if (!inside) continue;
      if (std::none_of(boxes_.begin(), boxes_.end(), [&](const Box& o) { return o.overlaps(b); })) {
        chosen = b;
        found = true;
        break;
      }
      if (!found && chosen.x1 == 0) chosen = b;
    }
    if (chosen.x1 == 0) chosen = Box{x + r + 2, y - h + 6, x + r + 2 + w, y + 6};
    boxes_.push_back(chosen);
    os << "<text x='" << fmt(chosen.x0) << "' y='" << fmt(chosen.y1 - 2)
       << "' font-size='10' fill='" << colour << "'>" << svg::escape(text) << "</text>\n";
  }

 private:
  std::vector<Box> boxes_;
};

}  // namespace

std::string render_zoo_chart(const std::vector<ChartPoint>& points, const std::string& note) {
  std::map<std::string, std::string> colours;
  double mac_lo = 1e300, mac_hi = 0, acc_lo = 100, acc_hi = 0, ips_lo = 1e300, ips_hi = 0;
  int64_t with_accuracy = 0, with_speed = 0;
  for (const auto& p : points) {
    family_colour(p.family, colours);
    if (p.macs <= 0) continue;
    const bool acc = p.paper_accuracy > 0 || p.measured_accuracy > 0;
    if (acc || p.images_per_s > 0)
      mac_lo = std::min(mac_lo, double(p.macs)), mac_hi = std::max(mac_hi, double(p.macs));
    for (double a : {p.paper_accuracy, p.measured_accuracy})
      if (a > 0) acc_lo = std::min(acc_lo, a), acc_hi = std::max(acc_hi, a);
    if (acc) ++with_accuracy;
    if (p.images_per_s > 0) {
      ++with_speed;
      ips_lo = std::min(ips_lo, p.images_per_s), ips_hi = std::max(ips_hi, p.images_per_s);
    }
  }
  if (mac_hi <= 0) mac_lo = 1e6, mac_hi = 1e9;
  if (acc_hi <= 0) acc_lo = 80, acc_hi = 100;
  if (ips_hi <= 0) ips_lo = 1, ips_hi = 1000;
  const double W = 1100, panel_h = 560, margin_top = 64;
  std::ostringstream os;
  os << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='"
     << margin_top + 2 * panel_h + 20 << "' font-family='sans-serif'>\n"
     << "<rect width='100%' height='100%' fill='white'/>\n"
     << "<text x='" << W / 2
     << "' y='22' text-anchor='middle' font-size='16' font-weight='bold'>The CIFAR-10 models of "
        "cnnzoo: accuracy and speed against multiply-adds</text>\n"
     << "<text x='" << W / 2 << "' y='42' text-anchor='middle' font-size='11'>" << svg::escape(note)
     << "</text>\n";
  double x_lo, x_hi;
  log_range(mac_lo, mac_hi, x_lo, x_hi);
  // Accuracy panel.
  // Accuracy as test error on a log scale, small errors at the top: the papers' 3-9% and a
  // 1998 network's 33% both stay readable.
  const double err_lo = std::max(0.1, 100 - acc_hi), err_hi = std::max(err_lo * 2, 100 - acc_lo);
  Frame a{70,   W - 30, margin_top + 20,           margin_top + panel_h - 50,
          x_lo, x_hi,   std::log10(err_lo / 1.15), std::log10(err_hi * 1.15),
          true};
  os << "<text x='" << (a.left + a.right) / 2 << "' y='" << a.top - 6
     << "' text-anchor='middle' font-size='13' font-weight='bold'>CIFAR-10 test error ("
     << with_accuracy << " models): open circle the paper's, filled cnnzoo's measured</text>\n";
  axes(os, a, "multiply-adds per image (log scale); marker area: parameters",
       "test error (log scale)", true);
  Labeller la;
  std::ostringstream labels;
  for (const auto& p : points) {
    if (p.macs <= 0) continue;
    const std::string c = family_colour(p.family, colours);
    const double x = a.X(double(p.macs)), r = radius(p.params, 4);
    if (p.paper_accuracy > 0 && p.measured_accuracy > 0)
      os << "<line x1='" << fmt(x) << "' x2='" << fmt(x) << "' y1='"
         << fmt(a.Y(100 - p.paper_accuracy)) << "' y2='" << fmt(a.Y(100 - p.measured_accuracy))
         << "' stroke='" << c << "' stroke-dasharray='3,2'/>\n";
    if (p.paper_accuracy > 0)
      os << "<circle cx='" << fmt(x) << "' cy='" << fmt(a.Y(100 - p.paper_accuracy)) << "' r='"
         << fmt(r) << "' fill='" << c << "' fill-opacity='0.12' stroke='" << c << "'/>\n";
    if (p.measured_accuracy > 0)
      os << "<circle cx='" << fmt(x) << "' cy='" << fmt(a.Y(100 - p.measured_accuracy)) << "' r='"
         << fmt(r) << "' fill='" << c << "' fill-opacity='0.75' stroke='" << c << "'/>\n";
    const double ly = a.Y(100 - (p.paper_accuracy > 0 ? p.paper_accuracy : p.measured_accuracy));
    if (p.paper_accuracy > 0 || p.measured_accuracy > 0) la.place(labels, x, ly, r, p.model, c, a);
  }
  os << labels.str();
  // Size key.
  double kx = a.left + 14;
  for (int64_t m : {1, 10, 30}) {
    const double r = radius(m * 1000000, 4);
    os << "<circle cx='" << fmt(kx + r) << "' cy='" << fmt(a.top + 30) << "' r='" << fmt(r)
       << "' fill='none' stroke='#555'/>\n<text x='" << fmt(kx + 2 * r + 3) << "' y='"
       << fmt(a.top + 34) << "' font-size='10'>" << m << "M params</text>\n";
    kx += 2 * r + 64;
  }
  // Speed panel.
  double y_lo, y_hi;
  log_range(ips_lo, ips_hi, y_lo, y_hi);
  const double top2 = margin_top + panel_h + 20;
  Frame s{70, W - 30, top2, top2 + panel_h - 50, x_lo, x_hi, y_lo, y_hi, false};
  os << "<text x='" << (s.left + s.right) / 2 << "' y='" << s.top - 6
     << "' text-anchor='middle' font-size='13' font-weight='bold'>Measured inference speed ("
     << with_speed << " models, cnnzoo bench)</text>\n";
  axes(os, s, "multiply-adds per image (log scale); marker area: parameters",
       "images/s (log scale)", false);
  Labeller ls;
  std::ostringstream labels2;
  for (const auto& p : points) {
    if (p.macs <= 0 || p.images_per_s <= 0) continue;
    const std::string c = family_colour(p.family, colours);
    const double x = s.X(double(p.macs)), y = s.Y(p.images_per_s), r = radius(p.params, 4);
    os << "<circle cx='" << fmt(x) << "' cy='" << fmt(y) << "' r='" << fmt(r) << "' fill='" << c
       << "' fill-opacity='0.35' stroke='" << c << "'/>\n";
    ls.place(labels2, x, y, r, p.model, c, s);
  }
  os << labels2.str() << "</svg>\n";
  return os.str();
}

}  // namespace cnnzoo::train
