// Where a network looks: class activation maps (CAM) for models whose head is global average
// pooling + linear, Grad-CAM on a named layer for any model, and their picture over the image.
#pragma once
#include <cstdint>
#include <string>

#include "cnnzoo/inference.hpp"
#include "cnnzoo/io/image.hpp"
#include "cnnzoo/nn/module.hpp"
#include "cnnzoo/tensor.hpp"

namespace cnnzoo::cam {

struct Map {
  Tensor map;          // [h, w] at the resolution of the explained layer
  std::string method;  // "CAM" or "Grad-CAM"
  std::string layer;   // what was explained, e.g. "input of global_avg_pool2d" or "layer3"
  int64_t class_index = 0;
  Tensor probabilities;  // [classes]: the model's softmax for this input
};

// CAM (Zhou et al. 2016): for logits = W * global_avg_pool(F) + b, the map of class c is
// sum_k W[c, k] F_k at every position of F (the bias is not spatial and is left out; the mean
// of the map plus b[c] is the logit). An Error names the model's head when it is anything
// else. `input` is one preprocessed image [1, C, H, W]; the model must be in eval mode. The
// call records a graph: it writes the parameters' gradients, so run it on a module nothing
// else uses meanwhile (Explainer does).
Map class_activation_map(nn::Module& model, const Tensor& input, int64_t class_index);

// Grad-CAM (Selvaraju et al. 2017): relu(sum_k alpha_k A_k) with alpha_k the mean over
// positions of d logit_c / d A_k. A is the output of `layer`, a module name as in the state
// dict ("layer3", "features.28"): for a module with weights of its own, the output of the op
// that applies them; for a container, the output of the last op using its weights followed
// through the element-wise ops after it (the residual addition, the activation). An empty
// layer takes the last activation of the forward pass with more than one position. On a
// GAP + linear head, Grad-CAM of that head's input is the CAM's positive part divided by the
// number of positions. Same conditions as class_activation_map.
Map grad_cam(nn::Module& model, const Tensor& input, int64_t class_index,
             const std::string& layer = "");

// Whether class_activation_map applies: the model's head is global average pooling + linear.
bool has_gap_linear_head(nn::Module& model, const Tensor& input);

// Explains a Classifier's predictions on a private copy of its model, so the Classifier stays
// untouched and safe to use from other threads meanwhile. One Explainer per thread.
class Explainer {
 public:
  explicit Explainer(const Classifier& classifier);
  // method: "auto" (CAM where the head allows, else Grad-CAM), "cam" or "grad-cam";
  // class_index -1: the most probable class.
  Map explain(const io::Image& image, int64_t class_index = -1, const std::string& method = "auto",
              const std::string& layer = "");
  Map explain_input(const Tensor& input, int64_t class_index = -1,
                    const std::string& method = "auto", const std::string& layer = "");

 private:
  const Classifier& classifier_;
  nn::ModulePtr model_;
};

// The picture: the image scaled so its longer side is `size` pixels, beside it the same with
// the map (scaled to [0, 1] over its own range, resized to it) overlaid in a blue-to-red colour
// map, and a legend below: `caption` and the colour scale.
io::Image render(const io::Image& image, const Tensor& map, const std::string& caption,
                 int size = 256);

}  // namespace cnnzoo::cam
