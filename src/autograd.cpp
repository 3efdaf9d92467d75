// The graph walk: topological order, gradient accumulation, freeing saved state.
#include "cnnzoo/autograd.hpp"

#include <unordered_set>
#include "export/trace.hpp"

namespace cnnzoo {

namespace {
thread_local bool t_grad_enabled = true;
}

bool grad_enabled() {
  return t_grad_enabled;
}
void set_grad_enabled(bool on) {
  t_grad_enabled = on;
}

template <class T>
Node<T>::~Node() {
  std::vector<std::shared_ptr<Node>> stack = std::move(inputs);
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    if (n && n.use_count() == 1) {
      for (auto& c : n->inputs) stack.push_back(std::move(c));
      n->inputs.clear();
      n->backward_fn = nullptr;
    }
  }
}

template <class T>
void Node<T>::accumulate(TensorT<T>&& g) {
  const Shape& vs = value.defined() ? value.shape() : shape;
  check(g.numel() == shape_numel(vs), std::string("backward of ") + op + ": gradient " +
                                          g.shape_str() + " does not match value " + shape_str(vs));
  if (!grad.defined()) {
    grad = g.shape() == vs ? std::move(g) : g.reshape(vs);
    return;
  }
  T* dst = grad.data();
  const T* src = g.data();
  const int64_t n = grad.numel();
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

template <class T>
VarT<T>::VarT(TensorT<T> value, bool requires_grad) : node_(std::make_shared<Node<T>>()) {
  retain();
  node_->shape = value.shape();
  node_->value = std::move(value);
  node_->requires_grad = requires_grad;
}

template <class T>
bool any_requires_grad(const std::vector<VarT<T>>& inputs) {
  for (const auto& v : inputs)
    if (v.defined() && v.requires_grad()) return true;
  return false;
}

template <class T>
bool value_reusable(const VarT<T>& x) {
  if (!x.defined()) return false;
  const Node<T>& n = *x.node();
  return n.handles.load(std::memory_order_acquire) == 1 && !n.keep_value &&
         !(n.is_leaf() && n.requires_grad) && n.value.defined() && n.value.sole_owner();
}

template <class T>
VarT<T> make_result(TensorT<T> value, const std::vector<VarT<T>>& inputs, const char* op,
                    std::function<void(Node<T>&)> backward_fn, bool keep_value) {
  auto node = std::make_shared<Node<T>>();
  node->shape = value.shape();
  node->value = std::move(value);
  node->op = op;
  node->keep_value = keep_value;
  if (grad_enabled() && any_requires_grad(inputs)) {
    node->requires_grad = true;
    node->inputs.reserve(inputs.size());
    for (const auto& v : inputs) node->inputs.push_back(v.defined() ? v.node() : nullptr);
    node->backward_fn = std::move(backward_fn);
  }
  VarT<T> result(std::move(node));
  if (trace::on<T>()) trace::record(op, inputs, result);
  return result;
}

template <class T>
void backward(const VarT<T>& root, const TensorT<T>& seed) {
  check(root.defined(), "backward: undefined root");
  check(root.requires_grad(), "backward: root does not require grad (no graph was recorded)");
  // Iterative post-order DFS gives a topological order without recursion depth limits
  // (ResNet-1202 has thousands of nodes in a chain).
  // `order` owns the nodes while the walk runs: clearing a node's input links would
  // otherwise destroy the nodes below it before their turn.
  std::vector<std::shared_ptr<Node<T>>> order;
  std::unordered_set<Node<T>*> seen;
  std::vector<std::pair<std::shared_ptr<Node<T>>, size_t>> stack;
  stack.emplace_back(root.node(), 0);
  seen.insert(root.node().get());
  while (!stack.empty()) {
    auto& top = stack.back();
    if (top.second < top.first->inputs.size()) {
      std::shared_ptr<Node<T>> child = top.first->inputs[top.second++];
      if (child && child->requires_grad && !child->is_leaf() && !seen.count(child.get())) {
        seen.insert(child.get());
        stack.emplace_back(std::move(child), 0);
      }
    } else {
      order.push_back(std::move(top.first));
      stack.pop_back();
    }
  }
  Node<T>* r = root.node().get();
  r->accumulate(seed.clone());
  // A backward function may consume its node's grad (move it on, or overwrite it when it is
  // the sole owner); this extra reference keeps the root's grad as it was seeded.
  const TensorT<T> root_grad = r->grad;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node<T>* n = it->get();
    if (n->retain_grad && n->grad.defined()) n->retained_grad = n->grad.clone();
    if (n->backward_fn && n->grad.defined()) n->backward_fn(*n);
    // Saved activations live in the closure and in the input links: free them now.
    n->backward_fn = nullptr;
    n->inputs.clear();
    if (n != r) n->grad = TensorT<T>();
  }
  r->grad = root_grad;
}

template <class T>
void backward(const VarT<T>& root) {
  check(root.defined() && root.value().numel() == 1,
        "backward: root must be a one-element tensor, got shape " +
            (root.defined() ? root.value().shape_str() : std::string("undefined")));
  backward(root, TensorT<T>::ones(root.shape()));
}

template struct Node<float>;
template struct Node<double>;
template class VarT<float>;
template class VarT<double>;
template bool any_requires_grad(const std::vector<VarT<float>>&);
template bool any_requires_grad(const std::vector<VarT<double>>&);
template bool value_reusable(const VarT<float>&);
template bool value_reusable(const VarT<double>&);
template VarT<float> make_result(TensorT<float>, const std::vector<VarT<float>>&, const char*,
                                 std::function<void(Node<float>&)>, bool);
template VarT<double> make_result(TensorT<double>, const std::vector<VarT<double>>&, const char*,
                                  std::function<void(Node<double>&)>, bool);
template void backward(const VarT<float>&);
template void backward(const VarT<double>&);
template void backward(const VarT<float>&, const TensorT<float>&);
template void backward(const VarT<double>&, const TensorT<double>&);

}  // namespace cnnzoo
