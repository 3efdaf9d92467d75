// Define-by-run reverse-mode autograd: every op returns a Var whose node records its inputs
// and a backward function; backward(loss) walks the graph in reverse topological order.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "cnnzoo/tensor.hpp"

namespace cnnzoo {

template <class T>
struct Node {
  TensorT<T> value;
  TensorT<T> grad;  // accumulated gradient of the root w.r.t. value (undefined until set)
  bool requires_grad = false;
  const char* op = "leaf";
  std::vector<std::shared_ptr<Node>> inputs;
  // Reads this node's grad and accumulates into the inputs' grads. Captured state (saved
  // activations) is released right after it runs.
  std::function<void(Node&)> backward_fn;
  // Var handles on this node. When the last one goes, a graph node drops its value (unless
  // keep_value: its backward reads it), as PyTorch frees an activation nobody saved: the
  // backward closures hold what they need.
  std::atomic<int> handles{0};
  bool keep_value = false;
  Shape shape;  // value's shape, kept when the value is dropped
  // A node whose gradient is wanted after backward (as PyTorch's retain_grad): backward
  // copies it into retained_grad before the node's backward function consumes it.
  bool retain_grad = false;
  TensorT<T> retained_grad;

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node();  // releases long input chains iteratively (no recursion depth limit)

  bool is_leaf() const { return !backward_fn && inputs.empty(); }
  // Adds g into grad (taking g's storage when grad is still undefined).
  void accumulate(TensorT<T>&& g);
  bool input_needs_grad(size_t i) const { return inputs[i] && inputs[i]->requires_grad; }
};

template <class T>
class VarT {
 public:
  VarT() = default;
  explicit VarT(TensorT<T> value, bool requires_grad = false);
  explicit VarT(std::shared_ptr<Node<T>> node) : node_(std::move(node)) { retain(); }
  VarT(const VarT& o) : node_(o.node_) { retain(); }
  VarT(VarT&& o) noexcept : node_(std::move(o.node_)) {}
  VarT& operator=(const VarT& o) {
    VarT copy(o);
    std::swap(node_, copy.node_);
    return *this;
  }
  VarT& operator=(VarT&& o) noexcept {
    if (this != &o) {
      release();
      node_ = std::move(o.node_);
    }
    return *this;
  }
  ~VarT() { release(); }

  bool defined() const { return static_cast<bool>(node_); }
  const TensorT<T>& value() const { return node_->value; }
  TensorT<T>& value() { return node_->value; }
  const TensorT<T>& grad() const { return node_->grad; }
  TensorT<T>& grad() { return node_->grad; }
  const Shape& shape() const { return node_->value.shape(); }
  int64_t size(int64_t d) const { return node_->value.size(d); }
  int64_t dim() const { return node_->value.dim(); }
  bool requires_grad() const { return node_ && node_->requires_grad; }
  void set_requires_grad(bool r) { node_->requires_grad = r; }
  void zero_grad() { node_->grad = TensorT<T>(); }
  const std::shared_ptr<Node<T>>& node() const { return node_; }

 private:
  void retain() {
    if (node_) node_->handles.fetch_add(1, std::memory_order_relaxed);
  }
  void release() {
    if (node_ && node_->handles.fetch_sub(1, std::memory_order_acq_rel) == 1 &&
        node_->backward_fn && !node_->keep_value && node_->value.defined()) {
      node_->value = TensorT<T>();
    }
    node_.reset();
  }
  std::shared_ptr<Node<T>> node_;
};

using Var = VarT<real>;
using VarD = VarT<double>;

// Gradient recording is on by default, per thread, so inference threads don't interfere.
bool grad_enabled();
void set_grad_enabled(bool on);
// Sets grad mode for a scope and restores the previous one on leaving it.
class GradModeGuard {
 public:
  explicit GradModeGuard(bool on) : prev_(grad_enabled()) { set_grad_enabled(on); }
  ~GradModeGuard() { set_grad_enabled(prev_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool prev_;
};
// No recording in a scope: inference, evaluation, in-place parameter updates.
class NoGradGuard : public GradModeGuard {
 public:
  NoGradGuard() : GradModeGuard(false) {}
};

// Wraps an op's output. Records inputs and backward only when grad mode is on and some
// input requires grad; otherwise the result is a plain constant. keep_value: the backward
// reads the node's own value, so it is not dropped with the last Var (Node::keep_value).
template <class T>
VarT<T> make_result(TensorT<T> value, const std::vector<VarT<T>>& inputs, const char* op,
                    std::function<void(Node<T>&)> backward_fn, bool keep_value = false);

// True when an op on these inputs would record a graph node.
template <class T>
bool any_requires_grad(const std::vector<VarT<T>>& inputs);

// True when an op given x as an rvalue may write its result over x's value: this is the
// node's last handle (so the node drops its value when it goes), no backward reads that value
// (keep_value), it is not a leaf being trained, and no other tensor shares the storage.
template <class T>
bool value_reusable(const VarT<T>& x);

// The buffer for an input gradient computed element by element from the node's grad dy: dy's
// own buffer when no other tensor shares it (the engine discards dy after the backward), else
// a new one.
template <class T>
TensorT<T> grad_buffer(Node<T>& n) {
  return n.grad.sole_owner() ? std::move(n.grad) : TensorT<T>::empty(n.grad.shape());
}

// Backpropagates from root. With no seed, root must hold one element and is seeded with 1.
template <class T>
void backward(const VarT<T>& root);
template <class T>
void backward(const VarT<T>& root, const TensorT<T>& seed);

extern template class VarT<float>;
extern template class VarT<double>;

}  // namespace cnnzoo
