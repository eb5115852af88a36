// Errors that cross into Python. Each C++ exception type maps to one Python exception
// (csrc/python/module.cpp registers the translation); messages name the op and the shapes.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>
#include <cstdint>

namespace flambeau {

struct ValueError : std::runtime_error { using std::runtime_error::runtime_error; };
struct TypeError : std::runtime_error { using std::runtime_error::runtime_error; };
struct IndexError : std::runtime_error { using std::runtime_error::runtime_error; };
struct NotImplementedError : std::runtime_error { using std::runtime_error::runtime_error; };
// torch.OutOfMemoryError (a RuntimeError in Python): a device allocation that failed even after the cache was freed
struct OutOfMemoryError : std::runtime_error { using std::runtime_error::runtime_error; };
using RuntimeError = std::runtime_error;

namespace detail {
inline void format_into(std::ostringstream&) {}
template <class T, class... Rest>
void format_into(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  format_into(os, rest...);
}
}  // namespace detail

template <class... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  detail::format_into(os, args...);
  return os.str();
}

// Shapes print as [2, 3, 4], as in PyTorch's messages.
inline std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

}  // namespace flambeau

// FLB_CHECK(cond, ExceptionType, message parts...): throw before touching memory.
#define FLB_CHECK(cond, Exc, ...)                                   \
  do {                                                              \
    if (!(cond)) throw Exc(::flambeau::str_cat(__VA_ARGS__));       \
  } while (0)
