// Class activation maps and Grad-CAM from a traced forward pass, and their overlay picture.
#include "cnnzoo/cam.hpp"

#include <stb/stb_easy_font.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>

#include "cnnzoo/models.hpp"
#include "cnnzoo/nn/init.hpp"
#include "cnnzoo/ops/loss.hpp"
#include "export/trace.hpp"

namespace cnnzoo::cam {

namespace {

using NodePtr = std::shared_ptr<Node<real>>;

// One forward pass with every op's output recorded and held.
struct Traced {
  trace::Recorder rec;
  Var logits;
  std::unordered_map<const Node<real>*, size_t> producer;  // node -> index of its event

  const trace::Event* made(const NodePtr& n) const {
    auto it = n ? producer.find(n.get()) : producer.end();
    return it == producer.end() ? nullptr : &rec.events[it->second];
  }
};

// The input must require a gradient: the graph then runs from the image to the logits even
// where a layer uses weights it derived without a graph.
void run(nn::Module& model, const Tensor& input, Traced& t) {
  check(input.dim() == 4 && input.size(0) == 1,
        "cam: the input " + input.shape_str() + " is not one image [1, C, H, W]");
  check(!model.is_training(), "cam: the model is in training mode; call eval() first");
  GradModeGuard grad_on(true);
  t.rec.keep_values = true;
  {
    trace::Scope scope(t.rec);
    t.logits = model.forward(Var(input, true));
  }
  check(t.logits.dim() == 2 && t.logits.size(0) == 1,
        "cam: the model's output " + t.logits.value().shape_str() + " is not [1, classes]");
  for (size_t i = 0; i < t.rec.events.size(); ++i) t.producer[t.rec.events[i].output.get()] = i;
}

int64_t resolve_class(const Traced& t, int64_t class_index) {
  const int64_t classes = t.logits.size(1);
  if (class_index < 0) {
    const float* p = t.logits.value().data();
    return std::max_element(p, p + classes) - p;
  }
  check(class_index < classes, "cam: class " + std::to_string(class_index) +
                                   " is out of range for a model of " + std::to_string(classes) +
                                   " classes");
  return class_index;
}

Map start_map(const Traced& t, int64_t class_index, const char* method) {
  Map m;
  m.method = method;
  m.class_index = resolve_class(t, class_index);
  m.probabilities = softmax(t.logits.value()).reshape({t.logits.size(1)});
  return m;
}

struct Head {
  const trace::Event* linear = nullptr;
  const trace::Event* pool = nullptr;
  std::string problem;  // why it is not GAP + linear
};

// Walks back from the logits: linear <- (reshape | dropout)* <- global average pooling.
Head find_head(const Traced& t) {
  Head h;
  const trace::Event* e = t.made(t.logits.node());
  if (!e || e->op != std::string("linear")) {
    h.problem = std::string("the output comes from ") + (e ? e->op : "no op") + ", not linear";
    return h;
  }
  h.linear = e;
  const trace::Event* in = t.made(e->inputs[0]);
  while (in && (in->op == std::string("reshape") || in->op == std::string("dropout")))
    in = t.made(in->inputs[0]);
  const bool one_by_one =
      in && in->value.dim() == 4 && in->value.size(2) == 1 && in->value.size(3) == 1;
  const bool pooled = in && (in->op == std::string("global_avg_pool2d") ||
                             (in->op == std::string("adaptive_avg_pool2d") && one_by_one));
  const trace::Event* features = pooled ? t.made(in->inputs[0]) : nullptr;
  if (pooled && features && features->value.dim() == 4 &&
      features->value.size(2) * features->value.size(3) > 1) {
    h.pool = in;
  } else if (pooled) {
    h.problem = "the pooled features have a single position (nothing to map)";
  } else {
    h.problem = std::string("the final linear layer reads ") + (in ? in->op : "the input") +
                ", not global average pooling";
  }
  return h;
}

const Tensor& feature_value(const Traced& t, const NodePtr& n) {
  const trace::Event* e = t.made(n);
  check(e != nullptr && e->value.defined() && e->value.dim() == 4,
        "cam: the pooled features are not a recorded [1, K, h, w] activation");
  return e->value;
}

// The event whose output a named layer produces (see grad_cam).
const trace::Event* layer_output(nn::Module& model, const Traced& t, const std::string& layer) {
  nn::Module* target = nullptr;
  for (const auto& [name, m] : model.named_modules())
    if (name == layer) target = m;
  check(target != nullptr, "cam: the model has no layer '" + layer +
                               "' (names as in the state dict, e.g. the prefix of a weight)");
  std::set<const Node<real>*> weights;
  for (const auto& [name, p] : target->named_parameters()) weights.insert(p.node().get());
  check(!weights.empty(), "cam: layer '" + layer +
                              "' has no weights of its own; name a layer with weights or a "
                              "container of them");
  const trace::Event* last = nullptr;
  size_t last_index = 0;
  for (size_t i = 0; i < t.rec.events.size(); ++i)
    for (const auto& in : t.rec.events[i].inputs)
      if (in && weights.count(in.get())) {
        last = &t.rec.events[i];
        last_index = i;
      }
  check(last != nullptr, "cam: layer '" + layer + "' takes no part in the forward pass");
  if (!target->named_children().empty()) {
    // A container's output: follow its last weighted op through the element-wise ops that
    // consume it (a residual addition, the activation).
    static const std::set<std::string> elementwise = {
        "add", "relu", "leaky_relu", "mul", "add_scalar", "scale", "prelu", "sigmoid", "tanh"};
    for (size_t i = last_index + 1; i < t.rec.events.size(); ++i) {
      const trace::Event& e = t.rec.events[i];
      const bool reads_last = std::any_of(e.inputs.begin(), e.inputs.end(), [&](const NodePtr& n) {
        return n.get() == last->output.get();
      });
      if (reads_last && elementwise.count(e.op) && e.value.shape() == last->value.shape())
        last = &e;
      else if (reads_last)
        break;
    }
  }
  check(last->value.dim() == 4, "cam: layer '" + layer + "' puts out " + last->value.shape_str() +
                                    ", not a [1, K, h, w] map of positions");
  return last;
}

}  // namespace

namespace {

// CAM and Grad-CAM of one traced forward pass (each public call traces once).
Map cam_of(const Traced& t, const Head& head, int64_t class_index) {
  check(head.pool != nullptr, "cam: CAM needs a head of global average pooling + linear, and " +
                                  head.problem + "; use Grad-CAM on a layer instead");
  Map m = start_map(t, class_index, "CAM");
  const Tensor& f = feature_value(t, head.pool->inputs[0]);
  const Tensor& w = head.linear->inputs[1]->value;  // [classes, K]
  const int64_t K = f.size(1), h = f.size(2), wd = f.size(3), hw = h * wd;
  check(w.dim() == 2 && w.size(1) == K, "cam: the linear layer's weight " + w.shape_str() +
                                            " does not match " + std::to_string(K) + " features");
  m.layer = "input of " + std::string(head.pool->op);
  m.map = Tensor::zeros({h, wd});
  const float* wc = w.data() + m.class_index * K;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t i = 0; i < hw; ++i) m.map[i] += wc[k] * f[k * hw + i];
  return m;
}

Map grad_cam_of(nn::Module& model, Traced& t, int64_t class_index, const std::string& layer) {
  Map m = start_map(t, class_index, "Grad-CAM");
  const trace::Event* target = nullptr;
  if (layer.empty()) {
    for (const auto& e : t.rec.events)
      if (e.value.dim() == 4 && e.value.size(2) * e.value.size(3) > 1) target = &e;
    check(target != nullptr, "cam: the forward pass has no activation with more than one position");
    m.layer = "output of the last " + std::string(target->op) + " with positions";
  } else {
    target = layer_output(model, t, layer);
    m.layer = layer;
  }
  check(target->output->requires_grad, "cam: '" + m.layer + "' does not depend on the input");
  target->output->retain_grad = true;
  Tensor seed = Tensor::zeros(t.logits.shape());
  seed[m.class_index] = 1;
  backward(t.logits, seed);
  const Tensor& g = target->output->retained_grad;
  check(g.defined(), "cam: the score of class " + std::to_string(m.class_index) +
                         " does not depend on '" + m.layer + "'");
  const Tensor& a = target->value;
  const int64_t K = a.size(1), h = a.size(2), wd = a.size(3), hw = h * wd;
  m.map = Tensor::zeros({h, wd});
  for (int64_t k = 0; k < K; ++k) {
    double alpha = 0;
    for (int64_t i = 0; i < hw; ++i) alpha += g[k * hw + i];
    alpha /= static_cast<double>(hw);
    for (int64_t i = 0; i < hw; ++i) m.map[i] += static_cast<float>(alpha) * a[k * hw + i];
  }
  for (float& v : m.map) v = std::max(v, 0.0f);
  return m;
}

}  // namespace

bool has_gap_linear_head(nn::Module& model, const Tensor& input) {
  Traced t;
  run(model, input, t);
  return find_head(t).pool != nullptr;
}

Map class_activation_map(nn::Module& model, const Tensor& input, int64_t class_index) {
  Traced t;
  run(model, input, t);
  return cam_of(t, find_head(t), class_index);
}

Map grad_cam(nn::Module& model, const Tensor& input, int64_t class_index,
             const std::string& layer) {
  Traced t;
  run(model, input, t);
  return grad_cam_of(model, t, class_index, layer);
}

Explainer::Explainer(const Classifier& classifier) : classifier_(classifier) {
  {
    nn::init::SkipInitGuard every_parameter_is_copied;
    model_ = models::build_model(classifier.metadata().spec);
  }
  model_->load_state_dict(classifier.module().state_dict());
  model_->eval();
}

Map Explainer::explain(const io::Image& image, int64_t class_index, const std::string& method,
                       const std::string& layer) {
  Tensor x = classifier_.preprocess(image);
  return explain_input(x.reshape({1, x.size(0), x.size(1), x.size(2)}), class_index, method, layer);
}

Map Explainer::explain_input(const Tensor& input, int64_t class_index, const std::string& method,
                             const std::string& layer) {
  check(method == "auto" || method == "cam" || method == "grad-cam",
        "cam: unknown method '" + method + "' (auto, cam, grad-cam)");
  Traced t;
  run(*model_, input, t);
  const Head head = find_head(t);
  if (method == "cam" || (method == "auto" && layer.empty() && head.pool != nullptr))
    return cam_of(t, head, class_index);
  return grad_cam_of(*model_, t, class_index, layer);
}

// ---- the picture ------------------------------------------------------------------------------

namespace {

// Blue (low) through cyan, yellow to red (high).
void colour(float t, uint8_t rgb[3]) {
  auto ramp = [](float v) { return static_cast<uint8_t>(255 * std::clamp(v, 0.0f, 1.0f)); };
  rgb[0] = ramp(1.5f - std::fabs(4 * t - 3));
  rgb[1] = ramp(1.5f - std::fabs(4 * t - 2));
  rgb[2] = ramp(1.5f - std::fabs(4 * t - 1));
}

void fill(io::Image& img, int x0, int y0, int x1, int y1, const uint8_t rgb[3]) {
  x0 = std::max(x0, 0), y0 = std::max(y0, 0);
  x1 = std::min(x1, img.width), y1 = std::min(y1, img.height);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x)
      std::copy(rgb, rgb + 3, &img.pixels[(static_cast<size_t>(y) * img.width + x) * 3]);
}

// stb_easy_font's glyphs are quads on a grid of about 6 x 12 units per character.
void text(io::Image& img, int x, int y, const std::string& s, int scale, const uint8_t rgb[3]) {
  std::vector<char> quads(s.size() * 300 + 64);
  const int n = stb_easy_font_print(0, 0, const_cast<char*>(s.c_str()), nullptr, quads.data(),
                                    static_cast<int>(quads.size()));
  for (int q = 0; q < n; ++q) {
    const float* v = reinterpret_cast<const float*>(quads.data() + q * 64);  // 4 vertices x 16 B
    const float qx0 = v[0], qy0 = v[1], qx1 = v[8], qy1 = v[9];
    fill(img, x + static_cast<int>(qx0 * scale), y + static_cast<int>(qy0 * scale),
         x + static_cast<int>(qx1 * scale), y + static_cast<int>(qy1 * scale), rgb);
  }
}

int text_width(const std::string& s, int scale) {
  return stb_easy_font_width(const_cast<char*>(s.c_str())) * scale;
}

}  // namespace

io::Image render(const io::Image& image, const Tensor& map, const std::string& caption, int size) {
  check(map.dim() == 2 && map.numel() > 0, "cam: the map " + map.shape_str() + " is not [h, w]");
  check(size >= 32 && size <= 4096,
        "cam: picture size " + std::to_string(size) + " is outside [32, 4096]");
  check(image.height > 0 && image.width > 0, "cam: empty image");
  const io::Image rgb = image.channels == 3 ? image : io::convert_channels(image, 3);
  const double s = static_cast<double>(size) / std::max(image.height, image.width);
  const int H = std::max(1, static_cast<int>(std::lround(image.height * s)));
  const int W = std::max(1, static_cast<int>(std::lround(image.width * s)));
  const io::Image scaled = io::resize(rgb, H, W);
  // The map scaled to [0, 1] over its own range, as an 8-bit image resized like the picture.
  const auto [lo, hi] = std::minmax_element(map.begin(), map.end());
  const float range = *hi - *lo;
  io::Image m8{static_cast<int>(map.size(0)), static_cast<int>(map.size(1)), 1, {}};
  for (float v : map)
    m8.pixels.push_back(static_cast<uint8_t>(std::lround(range > 0 ? 255 * (v - *lo) / range : 0)));
  const io::Image heat = io::resize(m8, H, W);
  const int scale = size >= 192 ? 2 : 1, line = 14 * scale, legend = 2 * line + 8;
  // The image on the left, the map over it on the right.
  const int gap = 4 * scale;
  const int width = std::max(2 * W + gap, text_width(caption, scale) + 8);
  io::Image out{H + legend, width, 3,
                std::vector<uint8_t>(static_cast<size_t>(H + legend) * width * 3, 255)};
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      uint8_t c[3];
      colour(heat.pixels[static_cast<size_t>(y) * W + x] / 255.0f, c);
      const uint8_t* p = &scaled.pixels[(static_cast<size_t>(y) * W + x) * 3];
      uint8_t* left = &out.pixels[(static_cast<size_t>(y) * width + x) * 3];
      uint8_t* right = left + (W + gap) * 3;
      for (int k = 0; k < 3; ++k) {
        left[k] = p[k];
        right[k] = static_cast<uint8_t>((2 * p[k] + 3 * c[k] + 2) / 5);
      }
    }
  const uint8_t black[3] = {0, 0, 0};
  text(out, 4, H + 4, caption, scale, black);
  // The colour scale: low on the left, high on the right.
  const std::string low = "low", high = "high";
  const int bar_x0 = 4 + text_width(low, scale) + 4 * scale;
  const int bar_x1 = std::max(bar_x0 + 8, width - 4 - text_width(high, scale) - 4 * scale);
  const int bar_y = H + 4 + line;
  text(out, 4, bar_y, low, scale, black);
  for (int x = bar_x0; x < bar_x1; ++x) {
    uint8_t c[3];
    colour(static_cast<float>(x - bar_x0) / std::max(1, bar_x1 - bar_x0 - 1), c);
    fill(out, x, bar_y, x + 1, bar_y + 8 * scale, c);
  }
  text(out, bar_x1 + 4 * scale, bar_y, high, scale, black);
  return out;
}

}  // namespace cnnzoo::cam
