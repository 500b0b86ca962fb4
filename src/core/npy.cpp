// .npy reading and atomic writing (see npy.hpp).
#include "npy.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "saddlescope/errors.hpp"

namespace saddlescope::npy {
namespace {

std::string header(const char* descr, const std::vector<std::int64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += fmt::format("{}, ", shape[i]);
  if (shape.size() > 1) s.resize(s.size() - 2);
  s += ")";
  std::string h = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, s);
  // Pad so that magic (6) + version (2) + length (2) + header is a multiple of 64.
  const std::size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h += '\n';
  return h;
}

void write_raw(const std::string& path, const char* descr, const std::vector<std::int64_t>& shape,
               const void* data, std::size_t bytes) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(fmt::format("cannot write {}", tmp), 1);
    const std::string h = header(descr, shape);
    const char magic[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
    out.write(magic, 8);
    const std::uint16_t len = static_cast<std::uint16_t>(h.size());
    const char lenb[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
    out.write(lenb, 2);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
    out.flush();
    if (!out) throw Error(fmt::format("writing {} failed (disk full?)", tmp), 1);
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace

void write_f32(const std::string& path, const std::vector<std::int64_t>& shape,
               const std::vector<float>& data) {
  write_raw(path, "<f4", shape, data.data(), data.size() * sizeof(float));
}

void write_f64(const std::string& path, const std::vector<std::int64_t>& shape,
               const std::vector<double>& data) {
  write_raw(path, "<f8", shape, data.data(), data.size() * sizeof(double));
}

void write_text(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(fmt::format("cannot write {}", tmp), 1);
    out << text;
    out.flush();
    if (!out) throw Error(fmt::format("writing {} failed (disk full?)", tmp), 1);
  }
  std::filesystem::rename(tmp, path);
}

Array read(const std::string& path, const std::string& named_by, bool integers) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: no such file ({})", path, named_by));
  char magic[8] = {};
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    throw InputError(
        fmt::format("{}: not a .npy file (expected the NumPy magic \\x93NUMPY)", path));
  std::uint32_t hlen = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    hlen = b[0] | (b[1] << 8);
  } else if (magic[6] == 2 || magic[6] == 3) {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
  } else {
    throw InputError(fmt::format("{}: unsupported .npy version {}", path, int(magic[6])));
  }
  if (!in || hlen > (1u << 20)) throw InputError(fmt::format("{}: truncated .npy header", path));
  std::string h(hlen, '\0');
  in.read(h.data(), hlen);
  if (!in) throw InputError(fmt::format("{}: truncated .npy header", path));
  Array a;
  auto field = [&](const std::string& key) -> std::string {
    const auto p = h.find("'" + key + "'");
    if (p == std::string::npos)
      throw InputError(fmt::format("{}: malformed .npy header (no '{}')", path, key));
    return h.substr(h.find(':', p) + 1);
  };
  const std::string d = field("descr");
  const auto q1 = d.find('\''), q2 = d.find('\'', q1 + 1);
  a.dtype = d.substr(q1 + 1, q2 - q1 - 1);
  // Integer dtypes: '<i8', '<u4', '|u1', ... ('|' for one byte); the item size.
  const bool int_dtype = a.dtype.size() == 3 && (a.dtype[0] == '<' || a.dtype[0] == '|') &&
                         (a.dtype[1] == 'i' || a.dtype[1] == 'u') &&
                         std::string("1248").find(a.dtype[2]) != std::string::npos &&
                         (a.dtype[0] == '|') == (a.dtype[2] == '1');
  if (a.dtype != "<f4" && a.dtype != "<f8" && !(integers && int_dtype))
    throw InputError(
        fmt::format("{}: dtype '{}' is not supported; use {} (little-endian)", path, a.dtype,
                    integers ? "float32, float64 or an integer type" : "float32 or float64"));
  const std::string fo = field("fortran_order");
  if (fo.find("True") < fo.find(','))
    throw InputError(
        fmt::format("{}: Fortran-ordered arrays are not supported; save with "
                    "np.ascontiguousarray",
                    path));
  std::string sh = field("shape");
  sh = sh.substr(sh.find('(') + 1, sh.find(')') - sh.find('(') - 1);
  std::stringstream ss(sh);
  for (std::string tok; std::getline(ss, tok, ',');) {
    if (tok.find_first_not_of(" ") == std::string::npos) continue;
    try {
      a.shape.push_back(std::stoll(tok));
    } catch (...) {
      throw InputError(fmt::format("{}: malformed shape in .npy header", path));
    }
  }
  std::int64_t n = 1;
  for (auto s : a.shape) n *= s;
  const std::size_t item = int_dtype          ? static_cast<std::size_t>(a.dtype[2] - '0')
                           : a.dtype == "<f4" ? 4
                                              : 8;
  std::vector<char> raw(static_cast<std::size_t>(n) * item);
  in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
  if (!in) throw InputError(fmt::format("{}: truncated: the header promises {} values", path, n));
  a.data.resize(static_cast<std::size_t>(n));
  if (int_dtype) {  // little-endian integers (x86-64 and the other hosts we build for)
    const bool is_signed = a.dtype[1] == 'i';
    for (std::int64_t i = 0; i < n; ++i) {
      std::uint64_t u = 0;
      std::memcpy(&u, raw.data() + i * static_cast<std::int64_t>(item), item);
      std::int64_t v;
      if (is_signed && item < 8 && (u >> (8 * item - 1)) & 1u)
        u |= ~std::uint64_t{0} << (8 * item);  // sign extension
      if (!is_signed && (u >> 63) != 0)
        throw InputError(
            fmt::format("{}: value {} at index {} does not fit in 64 bits", path, u, i));
      std::memcpy(&v, &u, 8);
      if (v > (std::int64_t{1} << 53) || v < -(std::int64_t{1} << 53))
        throw InputError(fmt::format(
            "{}: value {} at index {} is beyond 2^53 (not exact in a double)", path, v, i));
      a.data[i] = static_cast<double>(v);
    }
    return a;
  }
  for (std::int64_t i = 0; i < n; ++i) {
    if (item == 4) {
      float f;
      std::memcpy(&f, raw.data() + i * 4, 4);
      a.data[i] = f;
    } else {
      std::memcpy(&a.data[i], raw.data() + i * 8, 8);
    }
  }
  return a;
}

}  // namespace saddlescope::npy
