// The network objective's data files (src/core/network_data.hpp): the
// committed digits load as the UCI test set, data.samples takes the first
// rows, integer label dtypes of every width are read exactly, and each kind
// of bad data is refused with exit 2 and a message naming the file (or key)
// and the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "saddlescope/errors.hpp"
#include "src/core/network_data.hpp"
#include "src/core/npy.hpp"

namespace {

using namespace saddlescope;
namespace fs = std::filesystem;

// A .npy file of any dtype from raw little-endian bytes.
void write_npy(const fs::path& p, const std::string& descr, const std::vector<std::int64_t>& shape,
               const void* bytes, std::size_t size) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += std::to_string(shape[i]) + ", ";
  if (shape.size() > 1) s.resize(s.size() - 2);
  s += ")";
  std::string h = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + s + ", }";
  while ((10 + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  std::ofstream out(p, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const unsigned char len[2] = {static_cast<unsigned char>(h.size() & 0xff),
                                static_cast<unsigned char>(h.size() >> 8)};
  out.write(reinterpret_cast<const char*>(len), 2);
  out << h;
  out.write(static_cast<const char*>(bytes), static_cast<std::streamsize>(size));
}

class NetworkDataFiles : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("ss_netdata_" + std::to_string(::getpid()));
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }
  std::string f64(const char* name, std::vector<std::int64_t> shape, std::vector<double> v) {
    npy::write_f64((dir / name).string(), shape, v);
    return (dir / name).string();
  }
  template <class I>
  std::string ints(const char* name, const char* descr, std::vector<I> v) {
    write_npy(dir / name, descr, {static_cast<std::int64_t>(v.size())}, v.data(),
              v.size() * sizeof(I));
    return (dir / name).string();
  }
  // A spec of 3 inputs and 2 outputs over x [4, 3].
  NetworkDataSpec spec(const std::string& y, bool labels) {
    NetworkDataSpec s;
    s.x_path = f64("x.npy", {4, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    s.y_path = y;
    s.inputs = 3;
    s.outputs = 2;
    s.labels = labels;
    return s;
  }
  // The message of the InputError that load_network_data throws.
  static std::string refusal(const NetworkDataSpec& s) {
    try {
      load_network_data(s);
    } catch (const InputError& e) {
      EXPECT_EQ(e.exit_code(), 2);
      return e.what();
    }
    ADD_FAILURE() << "accepted";
    return "";
  }
};

TEST_F(NetworkDataFiles, TheDigitsLoadAsTheUciTestSet) {
  NetworkDataSpec s;
  s.x_path = std::string(SADDLESCOPE_EXAMPLES) + "/data/digits_x.npy";
  s.y_path = std::string(SADDLESCOPE_EXAMPLES) + "/data/digits_y.npy";
  s.inputs = 64;
  s.outputs = 10;
  s.labels = true;
  const NetworkData d = load_network_data(s);
  ASSERT_EQ(d.samples, 1797);
  std::vector<int> counts(10, 0);
  for (double c : d.y) ++counts[static_cast<int>(c)];
  EXPECT_EQ(counts, (std::vector<int>{178, 182, 177, 183, 181, 182, 181, 179, 174, 180}));
  for (double v : d.x) ASSERT_TRUE(v >= 0 && v <= 1 && v * 16 == std::round(v * 16));
  s.samples = 100;  // the first 100
  const NetworkData first = load_network_data(s);
  EXPECT_EQ(first.samples, 100);
  EXPECT_TRUE(std::equal(first.x.begin(), first.x.end(), d.x.begin()));
  EXPECT_TRUE(std::equal(first.y.begin(), first.y.end(), d.y.begin()));
  s.y_path = std::string(SADDLESCOPE_EXAMPLES) + "/data/digits_y_onehot.npy";  // mse targets
  s.labels = false;
  s.samples = 0;
  const NetworkData onehot = load_network_data(s);
  for (std::int64_t q = 0; q < 1797; ++q)
    ASSERT_EQ(onehot.y[q * 10 + static_cast<std::int64_t>(d.y[q])], 1.0);
}

TEST_F(NetworkDataFiles, LabelsOfEveryIntegerWidthAreExact) {
  const NetworkData a =
      load_network_data(spec(ints<std::int64_t>("a.npy", "<i8", {0, 1, 1, 0}), true));
  EXPECT_EQ(a.y, (std::vector<double>{0, 1, 1, 0}));
  const NetworkData b =
      load_network_data(spec(ints<std::int32_t>("b.npy", "<i4", {1, 0, 0, 1}), true));
  EXPECT_EQ(b.y, (std::vector<double>{1, 0, 0, 1}));
  const NetworkData c =
      load_network_data(spec(ints<std::uint8_t>("c.npy", "|u1", {1, 1, 0, 0}), true));
  EXPECT_EQ(c.y, (std::vector<double>{1, 1, 0, 0}));
  const NetworkData d =
      load_network_data(spec(ints<std::int16_t>("d.npy", "<i2", {0, 0, 1, 1}), true));
  EXPECT_EQ(d.y, (std::vector<double>{0, 0, 1, 1}));
}

TEST_F(NetworkDataFiles, BadDataIsRefusedNamingTheFileAndTheProblem) {
  const auto has = [](const std::string& msg, std::vector<std::string> parts) {
    for (const auto& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << msg << "\n  lacks: " << p;
  };
  const std::string y_ok = f64("y.npy", {4, 2}, std::vector<double>(8, 0.5));
  // x of the wrong width, or not 2-D.
  NetworkDataSpec s = spec(y_ok, false);
  s.inputs = 5;
  has(refusal(s), {"x.npy (data.x)", "shape [4, 3]", "[samples, 5]"});
  s = spec(y_ok, false);
  s.x_path = f64("x1.npy", {12}, std::vector<double>(12, 0));
  has(refusal(s), {"x1.npy (data.x)", "shape [12]"});
  // mse targets of the wrong width; labels given as floats; labels of two dimensions.
  has(refusal(spec(f64("y3.npy", {4, 3}, std::vector<double>(12, 0)), false)),
      {"y3.npy (data.y)", "shape [4, 3]", "[samples, 2]", "cross-entropy"});
  has(refusal(spec(f64("yf.npy", {4}, {0, 1, 0, 1}), true)),
      {"yf.npy (data.y)", "'<f8'", "must be integers"});
  has(refusal(spec(y_ok, true)), {"y.npy (data.y)", "shape [4, 2]", "one class label per sample"});
  // Labels out of range, at either end.
  has(refusal(spec(ints<std::int64_t>("big.npy", "<i8", {0, 1, 2, 0}), true)),
      {"big.npy (data.y)", "label 2 at sample 2", "0 to 1"});
  has(refusal(spec(ints<std::int64_t>("neg.npy", "<i8", {0, -1, 1, 0}), true)),
      {"neg.npy (data.y)", "label -1 at sample 1"});
  // NaN or Inf in x or y.
  s = spec(y_ok, false);
  s.x_path = f64("xnan.npy", {4, 3}, {0, 1, 2, 3, std::nan(""), 5, 6, 7, 8, 9, 10, 11});
  has(refusal(s), {"xnan.npy (data.x)", "nan", "row 1, column 1", "finite"});
  has(refusal(spec(
          f64("yinf.npy", {4, 2}, {0, 1, 2, 3, 4, 5, std::numeric_limits<double>::infinity(), 7}),
          false)),
      {"yinf.npy (data.y)", "inf", "row 3, column 0"});
  // Sample counts: x and y differ; data.samples beyond the rows; none at all.
  has(refusal(spec(f64("y5.npy", {5, 2}, std::vector<double>(10, 0)), false)),
      {"y5.npy (data.y) has 5 samples", "x.npy (data.x) has 4"});
  s = spec(y_ok, false);
  s.samples = 9;
  has(refusal(s), {"data.samples = 9", "has 4 samples"});
  s = spec(f64("y0.npy", {0, 2}, {}), false);
  s.x_path = f64("x0.npy", {0, 3}, {});
  has(refusal(s), {"x0.npy (data.x) has no samples", "at least 1"});
  // Missing files and non-.npy files name the key.
  s = spec(y_ok, false);
  s.y_path = (dir / "absent.npy").string();
  has(refusal(s), {"absent.npy: no such file (data.y)"});
  s = spec(y_ok, false);
  std::ofstream(dir / "text.npy") << "not numpy";
  s.x_path = (dir / "text.npy").string();
  has(refusal(s), {"text.npy: not a .npy file"});
}

}  // namespace
