// Where a tensor lives: the CPU, or CUDA device N.
#pragma once
#include <string>
#include "core/error.h"

namespace flambeau {

enum class DeviceType : int8_t { CPU = 0, CUDA = 1 };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && (is_cpu() || index == o.index); }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
};

inline Device cpu_device() { return Device{}; }

inline Device device_from_string(const std::string& s) {
  if (s == "cpu") return Device{};
  if (s == "cuda") return Device{DeviceType::CUDA, 0};
  if (s.rfind("cuda:", 0) == 0) {
    size_t pos = 0;
    int idx = -1;
    try { idx = std::stoi(s.substr(5), &pos); } catch (...) { idx = -1; }
    if (idx >= 0 && pos == s.size() - 5) return Device{DeviceType::CUDA, idx};
  }
  throw RuntimeError("invalid device string '" + s + "' (expected 'cpu', 'cuda' or 'cuda:N')");
}

}  // namespace flambeau
