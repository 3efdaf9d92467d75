// `cnnzoo cam`: class activation maps (or Grad-CAM) of image files, drawn over the images.
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>

#include "cli/common.hpp"
#include "cnnzoo/cam.hpp"

namespace fs = std::filesystem;

namespace cnnzoo::cli {

namespace {

// --class: an index, or a name the file gives its classes.
int64_t parse_class(const std::string& text, const Classifier& m) {
  const auto& names = m.metadata().classes;
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == text) return static_cast<int64_t>(i);
  char* end = nullptr;
  const long long k = std::strtoll(text.c_str(), &end, 10);
  check(!text.empty() && *end == '\0' && k >= 0 && k < m.num_classes(),
        "--class: '" + text + "' is neither a class name of " + m.name() + " nor an index below " +
            std::to_string(m.num_classes()));
  return k;
}

std::string label_of(const Classifier& m, int64_t k) {
  const auto& names = m.metadata().classes;
  return k < static_cast<int64_t>(names.size()) ? names[k] : std::to_string(k);
}

// A label as part of a file name: letters, digits, '-' and '_' kept, the rest '_'.
std::string file_part(std::string s) {
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  return s;
}

}  // namespace

void add_cam(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "cam",
      "Class activation maps: where the model looks, drawn over each image (CAM for global "
      "average pooling + linear heads, Grad-CAM otherwise)");
  struct Opts : ModelFileOptions {
    std::vector<std::string> images;
    std::string output, cls, method = "auto", layer;
    int64_t topk = 1;
    int size = 256;
    bool as_json = false;
  };
  auto o = std::make_shared<Opts>();
  o->add_to(cmd);
  cmd->add_option("images", o->images, "Image files (PNG, JPEG, BMP)")->required();
  auto* cls = cmd->add_option("--class", o->cls,
                              "The class to explain: a name or an index (default: the most "
                              "probable)");
  cmd->add_option("--topk", o->topk, "One picture for each of the k most probable classes")
      ->check(CLI::PositiveNumber)
      ->excludes(cls)
      ->capture_default_str();
  cmd->add_option("--method", o->method,
                  "auto (CAM where the head is global average pooling + linear, else "
                  "Grad-CAM), cam or grad-cam")
      ->check(CLI::IsMember({"auto", "cam", "grad-cam"}))
      ->capture_default_str();
  cmd->add_option("--layer", o->layer,
                  "Grad-CAM: the layer to explain, a module name as in the state dict (e.g. "
                  "layer3, features.28); default: the last activation with positions");
  cmd->add_option("--output", o->output, "Directory for the pictures (created)")->required();
  cmd->add_option("--size", o->size, "Longer side of the picture in pixels")
      ->check(CLI::Range(32, 4096))
      ->capture_default_str();
  cmd->add_flag("--json", o->as_json, "Print JSON");
  cmd->callback([o] {
    check(o->method != "cam" || o->layer.empty(),
          "--layer names a layer for Grad-CAM; CAM always explains the pooled features");
    Classifier m = o->load();
    // Decode everything first, so a bad file fails before any output.
    std::vector<io::Image> images;
    std::set<std::string> stems;
    for (const auto& path : o->images) {
      images.push_back(io::read_image(path));
      check(stems.insert(fs::path(path).stem().string()).second,
            "two images are named '" + fs::path(path).stem().string() +
                "': their pictures would overwrite each other");
    }
    const int64_t k = std::min(o->topk, m.num_classes());
    std::vector<int64_t> chosen;
    if (!o->cls.empty()) chosen.push_back(parse_class(o->cls, m));
    fs::create_directories(o->output);
    cam::Explainer explainer(m);
    json out = json::array();
    for (size_t n = 0; n < images.size(); ++n) {
      std::vector<int64_t> classes = chosen;
      if (classes.empty())
        for (const Prediction& p : m.topk(images[n], k)) classes.push_back(p.index);
      for (size_t r = 0; r < classes.size(); ++r) {
        const cam::Map map = explainer.explain(images[n], classes[r], o->method, o->layer);
        const std::string label = label_of(m, map.class_index);
        const float prob = map.probabilities[map.class_index];
        char caption[256];
        std::snprintf(caption, sizeof caption, "%s %.1f%% (%s%s%s)", label.c_str(), 100 * prob,
                      map.method.c_str(), o->layer.empty() ? "" : " ", o->layer.c_str());
        const std::string stem = fs::path(o->images[n]).stem().string();
        const std::string file =
            (fs::path(o->output) / (classes.size() == 1 ? stem + ".png"
                                                        : stem + "-top" + std::to_string(r + 1) +
                                                              "-" + file_part(label) + ".png"))
                .string();
        io::write_png(file, cam::render(images[n], map.map, caption, o->size));
        out.push_back({{"image", o->images[n]},
                       {"output", file},
                       {"class", map.class_index},
                       {"label", label},
                       {"probability", prob},
                       {"method", map.method},
                       {"layer", map.layer},
                       {"map_size", {map.map.size(0), map.map.size(1)}}});
        if (!o->as_json)
          std::printf("%s: %s %.2f%%, %s of %s (%lldx%lld) -> %s\n", o->images[n].c_str(),
                      label.c_str(), 100 * prob, map.method.c_str(), map.layer.c_str(),
                      static_cast<long long>(map.map.size(0)),
                      static_cast<long long>(map.map.size(1)), file.c_str());
      }
    }
    if (o->as_json) std::cout << out.dump(2) << "\n";
  });
}

}  // namespace cnnzoo::cli
