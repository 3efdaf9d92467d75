// curves.svg: the training curve per interval, test points per epoch, the learning rate,
// and axis ticks at round values, readable even for a one-epoch run.
#include <gtest/gtest.h>

#include <regex>

#include "cnnzoo/train/trainer.hpp"

using namespace cnnzoo::train;

namespace {

// The number of x,y pairs in each polyline of the SVG, in order.
std::vector<size_t> polyline_sizes(const std::string& svg) {
  std::vector<size_t> out;
  std::regex re("<polyline[^>]*points='([^']*)'");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator();
       ++it) {
    const std::string pts = (*it)[1];
    out.push_back(static_cast<size_t>(std::count(pts.begin(), pts.end(), ',')));
  }
  return out;
}

bool has_tick(const std::string& svg, const std::string& label) {
  return svg.find(">" + label + "</text>") != std::string::npos;
}

}  // namespace

TEST(Curves, OneEpochShowsTheTrainingCurveTestPointAndLearningRate) {
  std::vector<CurvePoint> curve;
  for (int i = 1; i <= 50; ++i)
    curve.push_back({i / 50.0, 2.0 - i / 50.0, 0.1 + 0.01 * i, 0.1 * (1 - i / 50.0)});
  EpochMetrics m;
  m.epoch = 1;
  m.test_loss = 0.9;
  m.test_acc = 0.55;
  const std::string svg = render_curves_svg({m}, curve, "resnet<20>");
  // Train loss, train accuracy, learning rate: 50 points each; the single test result of
  // each panel is a dot, not a line.
  EXPECT_EQ(polyline_sizes(svg), (std::vector<size_t>{50, 50, 50}));
  size_t circles = 0;
  for (size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1))
    ++circles;
  EXPECT_EQ(circles, 2u);
  // Round ticks over a fraction of an epoch, percent accuracy, the learning rate's scale.
  for (const char* t : {"0", "0.2", "0.4", "0.6", "0.8", "1", "40%", "0.1", "0.04"})
    EXPECT_TRUE(has_tick(svg, t)) << t;
  EXPECT_NE(svg.find("learning rate"), std::string::npos);
  EXPECT_NE(svg.find("resnet&lt;20&gt;"), std::string::npos);  // the title is escaped
}

TEST(Curves, ManyEpochsTickInWholeEpochs) {
  std::vector<CurvePoint> curve;
  std::vector<EpochMetrics> history;
  for (int e = 1; e <= 30; ++e) {
    for (int i = 1; i <= 10; ++i) curve.push_back({e - 1 + i / 10.0, 1.0 / e, 0.5, 0.1});
    EpochMetrics m;
    m.epoch = e;
    m.test_loss = 1.0 / e;
    m.test_acc = 0.5 + e / 100.0;
    history.push_back(m);
  }
  const std::string svg = render_curves_svg(history, curve, "run");
  // Train loss, test loss (a line through its 30 points), train and test accuracy, lr.
  EXPECT_EQ(polyline_sizes(svg), (std::vector<size_t>{300, 30, 300, 30, 300}));
  for (const char* t : {"0", "10", "20", "30"}) EXPECT_TRUE(has_tick(svg, t)) << t;
  EXPECT_FALSE(has_tick(svg, "2.5"));
  EXPECT_FALSE(has_tick(svg, "10.0"));
}
