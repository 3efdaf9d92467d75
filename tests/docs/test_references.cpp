// What a user of the repository reads (README, docs, public headers, sources, examples) points
// at nothing outside it: no sibling folders, no tracker's issue numbers, no design notes that
// are not shipped.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace fs = std::filesystem;

TEST(References, NothingOutsideTheRepositoryIsCited) {
  const fs::path root = CNNZOO_SOURCE_DIR;
  const std::regex outside(R"(\.\./shared|DESIGN\.md|\b[Ii]ssues? #?[0-9]+)");
  std::vector<fs::path> files = {root / "README.md"};
  for (const char* dir : {"docs", "include", "src", "models", "examples", "scripts", "data"})
    for (const auto& e : fs::recursive_directory_iterator(root / dir))
      if (e.is_regular_file()) files.push_back(e.path());
  ASSERT_GT(files.size(), 100u);
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n)
      EXPECT_FALSE(std::regex_search(line, outside))
          << fs::relative(f, root).string() << ":" << n << ": " << line;
  }
}
