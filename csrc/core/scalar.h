// A Python number crossing into C++: exact for integers (int64) and bools, double otherwise.
#pragma once
#include <cstdint>
#include "core/convert.h"

namespace flambeau {

struct Scalar {
  enum Kind : int8_t { Bool, Int, Float } kind = Float;
  double d = 0;
  int64_t i = 0;
  static Scalar from_double(double v) { Scalar s; s.kind = Float; s.d = v; s.i = (int64_t)v; return s; }
  static Scalar from_int(int64_t v) { Scalar s; s.kind = Int; s.i = v; s.d = (double)v; return s; }
  static Scalar from_bool(bool v) { Scalar s; s.kind = Bool; s.i = v; s.d = v; return s; }
  template <class T>
  T to() const {
    if (kind == Float) return convert_element<T, double>(d);  // defined for out-of-range narrow ints
    return static_cast<T>(i);
  }
};

template <>
inline bool Scalar::to<bool>() const { return kind == Float ? d != 0 : i != 0; }

}  // namespace flambeau
