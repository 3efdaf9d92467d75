// ONNX export: trace one eval-mode forward, then write each recorded op as ONNX nodes.
// The protobuf is encoded by hand (protobuf.hpp): see README "ONNX export" for why.
#include "cnnzoo/onnx.hpp"

#include <cstring>
#include <unordered_map>

#include "cnnzoo/io/file.hpp"
#include "export/protobuf.hpp"
#include "export/trace.hpp"

namespace cnnzoo::onnx {

namespace {

using protobuf::Message;

// ONNX field numbers and enum values (onnx.proto).
enum DataType { kFloat = 1, kInt64 = 7 };
enum AttrType { kAttrFloat = 1, kAttrInt = 2, kAttrInts = 7 };

Message attr_int(const std::string& name, int64_t v) {
  return Message().bytes(1, name).varint(20, kAttrInt).int64(3, v);
}
Message attr_ints(const std::string& name, const std::vector<int64_t>& v) {
  return Message().bytes(1, name).varint(20, kAttrInts).packed_int64(8, v);
}
Message attr_float(const std::string& name, double v) {
  return Message().bytes(1, name).varint(20, kAttrFloat).float32(2, static_cast<float>(v));
}

class GraphWriter {
 public:
  GraphWriter(const ExportOptions& options) : options_(options) {}

  // An initializer (graph field 5) of `bytes` bytes of `type` at `data` with `dims`, encoded
  // as one chunk with a single copy of the data; returns its name.
  std::string initializer(std::string name, const Shape& dims, DataType type, const void* data,
                          size_t bytes) {
    if (name.empty()) name = "const_" + std::to_string(next_const_++);
    Message head = Message().packed_int64(1, dims).varint(2, type).bytes(8, name);
    Message tensor_head = Message().header(9, bytes);
    const size_t length = head.size() + tensor_head.size() + bytes;
    std::string out = Message().header(5, length).take();
    out.reserve(out.size() + length);
    out += head.str();
    out += tensor_head.str();
    out.append(static_cast<const char*>(data), bytes);
    initializer_bytes_ += out.size();
    initializers_.push_back(std::move(out));
    return name;
  }
  std::string constant(const Tensor& t, const std::string& name = "") {
    static_assert(sizeof(real) == 4, "ONNX export writes float32 tensors");
    return initializer(name, t.shape(), kFloat, t.data(), static_cast<size_t>(t.numel()) * 4);
  }
  std::string constant(const std::string& name, const Shape& dims, const std::vector<float>& v) {
    return initializer(name, dims, kFloat, v.data(), v.size() * 4);
  }
  std::string constant_ints(const std::vector<int64_t>& v) {
    return initializer("", {static_cast<int64_t>(v.size())}, kInt64, v.data(), v.size() * 8);
  }
  std::string scalar(double v) { return constant("", {}, {static_cast<float>(v)}); }

  // The GraphProto as chunks whose concatenation is its encoding (initializers last).
  std::vector<std::string> take_graph() {
    std::vector<std::string> chunks = {graph_.take()};
    for (auto& i : initializers_) chunks.push_back(std::move(i));
    initializers_.clear();
    return chunks;
  }
  size_t graph_size() const { return graph_.size() + initializer_bytes_; }

  std::string node(const std::string& op, const std::vector<std::string>& inputs,
                   std::vector<Message> attrs = {}, std::string output = "") {
    if (output.empty()) output = "t" + std::to_string(next_value_++);
    Message n;
    for (const auto& i : inputs) n.bytes(1, i);
    n.bytes(2, output).bytes(3, op + "_" + std::to_string(next_node_++)).bytes(4, op);
    for (const auto& a : attrs) n.message(5, a);
    graph_.message(1, n);
    return output;
  }

  void value_info(int field, const std::string& name, const Shape& shape) {
    Message dims;
    for (size_t i = 0; i < shape.size(); ++i) {
      if (i == 0 && options_.batch == 0)
        dims.message(1, Message().bytes(2, "N"));
      else
        dims.message(1, Message().int64(1, shape[i]));
    }
    Message tensor_type = Message().varint(1, kFloat).message(2, dims);
    graph_.message(field, Message().bytes(1, name).message(2, Message().message(1, tensor_type)));
  }

  Message& graph() { return graph_; }

 private:
  const ExportOptions& options_;
  Message graph_;  // everything but the initializers
  std::vector<std::string> initializers_;
  size_t initializer_bytes_ = 0;
  int next_const_ = 0, next_value_ = 0, next_node_ = 0;
};

std::vector<int64_t> ints_or_empty(const trace::Event& e, const std::string& key) {
  auto it = e.ints.find(key);
  return it == e.ints.end() ? std::vector<int64_t>{} : it->second;
}

}  // namespace

namespace {

// The encoded ModelProto as chunks (see GraphWriter::take_graph).
std::vector<std::string> export_chunks(nn::Module& model, const Shape& input_chw,
                                       const ExportOptions& options) {
  check(input_chw.size() == 3,
        "export: input shape must be C x H x W, got " + shape_str(input_chw));
  check(options.opset == 13 || options.opset == 17,
        "export: opset must be 13 or 17, got " + std::to_string(options.opset));
  check(options.batch >= 0, "export: batch must be >= 0 (0: dynamic)");
  const int64_t batch = options.batch == 0 ? 1 : options.batch;
  Shape input_shape = {batch, input_chw[0], input_chw[1], input_chw[2]};
  check(shape_numel(input_shape) <= (int64_t(1) << 28),
        "export: input " + shape_str(input_shape) + " is too large");

  const bool was_training = model.is_training();
  model.eval();
  trace::Recorder rec;
  Var input(Tensor::zeros(input_shape));
  for (int64_t i = 0; i < input.value().numel(); ++i)
    input.value()[i] = static_cast<real>((i % 17) / 17.0);
  Var output;
  {
    NoGradGuard no_grad;
    trace::Scope scope(rec);
    output = model.forward(input);
  }
  model.train(was_training);

  GraphWriter g(options);
  std::unordered_map<const Node<real>*, std::string> names;
  names[input.node().get()] = "input";
  std::unordered_map<const Node<real>*, std::string> param_names;
  for (auto& [name, p] : model.named_parameters()) param_names[p.node().get()] = name;
  std::unordered_map<const real*, std::string> buffer_names;
  for (auto& [name, b] : model.named_buffers()) buffer_names[b.data()] = name;

  auto input_name = [&](const std::shared_ptr<Node<real>>& n) -> std::string {
    if (!n) return "";
    auto it = names.find(n.get());
    if (it != names.end()) return it->second;
    // Not made by a traced op: a parameter, or a constant (e.g. weights with a BN folded in).
    auto p = param_names.find(n.get());
    std::string name = g.constant(n->value, p != param_names.end() ? p->second : "");
    names[n.get()] = name;
    return name;
  };
  auto buffer = [&](const Tensor& t) {
    auto it = buffer_names.find(t.data());
    std::string key = it != buffer_names.end() ? it->second : "";
    if (!key.empty()) {
      auto done = names.find(reinterpret_cast<const Node<real>*>(t.data()));
      if (done != names.end()) return done->second;
    }
    std::string name = g.constant(t, key);
    if (!key.empty()) names[reinterpret_cast<const Node<real>*>(t.data())] = name;
    return name;
  };

  // Ops do not know which module called them; the nearest op at or before `k` that reads a
  // parameter does, through the parameter's dotted name.
  auto layer_of = [&](size_t k) -> std::string {
    for (size_t j = k + 1; j-- > 0;)
      for (const auto& n : rec.events[j].inputs) {
        auto p = param_names.find(n.get());
        if (p == param_names.end()) continue;
        const std::string layer = p->second.substr(0, p->second.rfind('.'));
        return (j == k ? "in layer '" : "after layer '") + layer + "'";
      }
    return "before the first layer with parameters";
  };

  for (size_t k = 0; k < rec.events.size(); ++k) {
    const trace::Event& e = rec.events[k];
    auto fail = [&](const std::string& why) {
      throw Error("export: op " + std::to_string(k + 1) + " of the forward pass ('" + e.op + "', " +
                  layer_of(k) + "): " + why);
    };
    std::vector<std::string> in;
    for (const auto& n : e.inputs) in.push_back(input_name(n));
    const Shape& x_shape = e.inputs.empty() || !e.inputs[0] ? Shape{} : e.inputs[0]->shape;
    std::string out;
    const std::string& op = e.op;
    if (op == "conv2d") {
      const Shape& w = e.inputs[1]->shape;
      std::vector<Message> a = {attr_ints("kernel_shape", {w[2], w[3]}),
                                attr_ints("strides", ints_or_empty(e, "stride")),
                                attr_ints("pads", ints_or_empty(e, "padding")),
                                attr_ints("dilations", ints_or_empty(e, "dilation")),
                                attr_int("group", ints_or_empty(e, "groups").at(0))};
      if (in[2].empty()) in.pop_back();
      out = g.node("Conv", in, a);
    } else if (op == "batch_norm" || op == "batch_norm_relu") {
      if (ints_or_empty(e, "training").at(0))
        fail("batch statistics (a BatchNorm in training mode)");
      if (e.tensors.size() != 2 || !e.tensors[0].defined()) fail("no running statistics");
      const int64_t c = x_shape.at(1);
      if (in[1].empty()) in[1] = g.constant(Tensor::ones({c}));
      if (in[2].empty()) in[2] = g.constant(Tensor::zeros({c}));
      in.push_back(buffer(e.tensors[0]));
      in.push_back(buffer(e.tensors[1]));
      out = g.node("BatchNormalization", in, {attr_float("epsilon", e.reals.at("eps"))});
      if (op == "batch_norm_relu") out = g.node("Relu", {out});
    } else if (op == "relu") {
      out = g.node("Relu", in);
    } else if (op == "sigmoid") {
      out = g.node("Sigmoid", in);
    } else if (op == "tanh") {
      out = g.node("Tanh", in);
    } else if (op == "leaky_relu") {
      out = g.node("LeakyRelu", in, {attr_float("alpha", e.reals.at("negative_slope"))});
    } else if (op == "prelu") {
      // ONNX broadcasts the slope from the right: one per channel is [C, 1, 1].
      const Tensor& w = e.inputs[1]->value;
      Shape dims = {w.numel()};
      for (size_t d = 2; d < x_shape.size(); ++d) dims.push_back(1);
      in[1] = g.constant(in[1] + "_slope", w.numel() == 1 ? Shape{1} : dims,
                         std::vector<float>(w.begin(), w.end()));
      out = g.node("PRelu", in);
    } else if (op == "max_pool2d" || op == "avg_pool2d") {
      std::vector<int64_t> pads = ints_or_empty(e, "padding");  // top, left, bottom, right
      const bool avg = op == "avg_pool2d";
      bool include_pad = avg && ints_or_empty(e, "count_include_pad").at(0);
      if (include_pad && pads != std::vector<int64_t>(4, 0)) {
        // Zero padding first, then an average over what lies inside the padded input: the
        // divisor counts padding up to the padded input's end, as cnnzoo (and PyTorch) do,
        // including ceil_mode windows; OpenCV 4.6 gets AveragePool's own count_include_pad
        // wrong, this form it computes right.
        in[0] = g.node("Pad",
                       {in[0], g.constant_ints({0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]})});
        pads.assign(4, 0);
        include_pad = false;
      }
      std::vector<Message> a = {attr_ints("kernel_shape", ints_or_empty(e, "kernel")),
                                attr_ints("strides", ints_or_empty(e, "stride")),
                                attr_ints("pads", pads),
                                attr_int("ceil_mode", ints_or_empty(e, "ceil_mode").at(0))};
      if (avg) a.push_back(attr_int("count_include_pad", include_pad ? 1 : 0));
      out = g.node(avg ? "AveragePool" : "MaxPool", in, a);
    } else if (op == "global_avg_pool2d") {
      out = g.node("GlobalAveragePool", in);
    } else if (op == "adaptive_avg_pool2d") {
      const auto o = ints_or_empty(e, "output_size");
      const int64_t h = x_shape.at(2), w = x_shape.at(3);
      if (o[0] == 1 && o[1] == 1) {
        out = g.node("GlobalAveragePool", in);
      } else if (h % o[0] == 0 && w % o[1] == 0) {
        out = g.node("AveragePool", in,
                     {attr_ints("kernel_shape", {h / o[0], w / o[1]}),
                      attr_ints("strides", {h / o[0], w / o[1]})});
      } else {
        fail("adaptive pooling of " + std::to_string(h) + "x" + std::to_string(w) + " to " +
             std::to_string(o[0]) + "x" + std::to_string(o[1]) + " has unequal windows");
      }
    } else if (op == "local_response_norm") {
      out = g.node("LRN", in,
                   {attr_int("size", ints_or_empty(e, "size").at(0)),
                    attr_float("alpha", e.reals.at("alpha")),
                    attr_float("beta", e.reals.at("beta")), attr_float("bias", e.reals.at("k"))});
    } else if (op == "linear") {
      if (in[2].empty()) in.pop_back();
      out = g.node("Gemm", in, {attr_int("transB", 1)});
    } else if (op == "add" || op == "sub" || op == "mul") {
      out = g.node(op == "add" ? "Add" : op == "sub" ? "Sub" : "Mul", in);
    } else if (op == "mul_channel") {
      const Shape& s = e.inputs[1]->shape;
      std::vector<int64_t> dims =
          s.size() == 1 ? std::vector<int64_t>{s[0]} : std::vector<int64_t>{0, s[1]};
      for (size_t d = 2; d < x_shape.size(); ++d) dims.push_back(1);
      std::string factors = g.node("Reshape", {in[1], g.constant_ints(dims)});
      out = g.node("Mul", {in[0], factors});
    } else if (op == "scale") {
      out = g.node("Mul", {in[0], in.size() > 1 ? in[1] : g.scalar(e.reals.at("alpha"))});
    } else if (op == "add_scalar") {
      out = g.node("Add", {in[0], g.scalar(e.reals.at("c"))});
    } else if (op == "concat") {
      out = g.node("Concat", in, {attr_int("axis", ints_or_empty(e, "dim").at(0))});
    } else if (op == "slice") {
      const auto s = ints_or_empty(e, "slice");
      out = g.node("Slice", {in[0], g.constant_ints({s[1]}), g.constant_ints({s[2]}),
                             g.constant_ints({s[0]})});
    } else if (op == "pad_channels" || op == "pad2d") {
      std::vector<int64_t> pads(2 * x_shape.size(), 0);
      if (op == "pad_channels") {
        const auto c = ints_or_empty(e, "channels");
        pads[1] = c[0];
        pads[x_shape.size() + 1] = c[1];
      } else {
        const auto p = ints_or_empty(e, "padding");  // top, left, bottom, right
        pads[2] = p[0];
        pads[3] = p[1];
        pads[x_shape.size() + 2] = p[2];
        pads[x_shape.size() + 3] = p[3];
      }
      out = g.node("Pad", {in[0], g.constant_ints(pads)});
    } else if (op == "reshape") {
      std::vector<int64_t> shape = ints_or_empty(e, "shape");
      if (!shape.empty() && !x_shape.empty() && shape[0] == x_shape[0]) shape[0] = 0;  // the batch
      out = g.node("Reshape", {in[0], g.constant_ints(shape)});
    } else if (op == "dropout") {
      fail("dropout in training mode");
    } else {
      fail("no ONNX form (the exporter covers the ops of the registry's models at inference)");
    }
    names[e.output.get()] = out;
  }
  auto final_name = names.find(output.node().get());
  check(final_name != names.end(), "export: the model's output is not computed from its input");
  // The graph's output must be named by a node output: rename through Identity.
  std::string result = g.node("Identity", {final_name->second}, {}, "output");

  g.graph().bytes(2, "cnnzoo");
  g.value_info(11, "input", input_shape);
  g.value_info(12, "output", output.shape());
  (void)result;

  Message head;
  head.int64(1, options.opset >= 14 ? 8 : 7)
      .bytes(2, "cnnzoo")
      .bytes(3, "0.1.0")
      .message(8, Message().bytes(1, "").int64(2, options.opset));
  for (const auto& [k, v] : options.metadata) head.message(14, Message().bytes(1, k).bytes(2, v));
  head.header(7, g.graph_size());
  std::vector<std::string> chunks = {head.take()};
  for (auto& c : g.take_graph()) chunks.push_back(std::move(c));
  return chunks;
}

}  // namespace

std::string export_bytes(nn::Module& model, const Shape& input_chw, const ExportOptions& options) {
  std::vector<std::string> chunks = export_chunks(model, input_chw, options);
  size_t total = 0;
  for (const auto& c : chunks) total += c.size();
  std::string out;
  out.reserve(total);
  for (auto& c : chunks) {
    out += c;
    std::string().swap(c);
  }
  return out;
}

void export_file(nn::Module& model, const Shape& input_chw, const std::string& path,
                 const ExportOptions& options) {
  const std::vector<std::string> chunks = export_chunks(model, input_chw, options);
  io::atomic_write(path, [&](std::ostream& out) {
    for (const auto& c : chunks) out.write(c.data(), static_cast<std::streamsize>(c.size()));
  });
}

}  // namespace cnnzoo::onnx
