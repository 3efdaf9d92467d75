// `cnnzoo gradcheck` over every CIFAR model of the registry at tiny size, and its bad input.
#include <chrono>

#include "cli_run.hpp"
#include "cnnzoo/models.hpp"
#include "data_paths.hpp"
#include "models/model_test.hpp"

namespace {

class CliGradcheck : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(CliGradcheck, PassesAtTinySize) {
  TempDir tmp;  // tests run in parallel: each its own stdout/stderr files
  const std::string dir = tmp.path();
  const auto start = std::chrono::steady_clock::now();
  CliRun r = cli("gradcheck " + GetParam(), dir);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("gradcheck passed"), std::string::npos) << r.out << r.err;
  std::printf("%s (%.1f s wall)", r.out.c_str(), seconds);
}

INSTANTIATE_TEST_SUITE_P(Cifar, CliGradcheck,
                         ::testing::ValuesIn(cnnzoo::testing::registry_names("cifar")),
                         [](const auto& info) { return cnnzoo::testing::test_name(info.param); });

TEST(CliGradcheckInput, BadRequestsAreOneLineErrors) {
  TempDir tmp;
  const std::string dir = tmp.path();
  expect_one_line_error(cli("gradcheck no-such-model", dir), "no-such-model");
  expect_one_line_error(cli("gradcheck resnet20 --input 3x0x8", dir), "--input");
  expect_one_line_error(cli("gradcheck resnet20 --set shortcut=Z", dir), "shortcut");
  expect_one_line_error(cli("gradcheck resnet20 --batch 0", dir), "--batch");
  CliRun help = cli("gradcheck --help", dir);
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("--max-elements"), std::string::npos) << help.out;
}
