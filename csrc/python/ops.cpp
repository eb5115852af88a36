// Bindings for the op entry points of csrc/ops (names as in csrc/python/API.md). Heavy ops release
// the GIL; tiny ones keep it, since releasing costs more than they do.
#include <optional>
#include "ops/ops.h"
#include "ops/grid_sample.h"
#include "python/bind.h"

namespace flambeau::python {

using OptT = std::optional<Tensor>;
using Dims = std::vector<int64_t>;

static std::optional<Scalar> opt_scalar(const py::object& o, const char* op) {
  if (o.is_none()) return std::nullopt;
  return to_scalar(o, op);
}

void bind_linalg_dense(py::module_& m);  // bind_linalg_dense.cpp: LU, solves, Cholesky, QR, eigh, SVD, matrix_exp
void bind_ctc_loss(py::module_& m);  // bind_ctc_loss.cpp: ctc_loss, ctc_loss_backward
void bind_vol(py::module_& m);  // bind_vol.cpp: conv3d, conv_transpose3d, 3-D pooling and unpooling
void bind_quantized(py::module_& m);  // bind_quantized.cpp: int8 quantized linear, dynamic linear, conv2d

void bind_ops(py::module_& m) {
  bind_linalg_dense(m);
  bind_ctc_loss(m);
  bind_vol(m);
  bind_quantized(m);
  auto dev = [](const std::string& s) { return device_from_string(s); };
  auto dt = [](const std::string& s) { return dtype_from_name(s); };

  // ---- creation and random
  m.def("empty", [=](const Shape& s, const std::string& d, const std::string& device) { return empty(s, dt(d), dev(device)); });
  m.def("full", [=](const Shape& s, py::object v, const std::string& d, const std::string& device) {
    return ops::full(s, to_scalar(v, "full"), dt(d), dev(device));
  });
  m.def("constant_pad", [=](const Tensor& x, const std::vector<int64_t>& before, const std::vector<int64_t>& after,
                            py::object v) { return ops::constant_pad(x, before, after, to_scalar(v, "pad")); });
  m.def("pad_gather", &ops::pad_gather);
  m.def("pad_gather_backward", &ops::pad_gather_backward);
  m.def("scalar_tensor", [=](py::object v, const std::string& d, const std::string& device) {
    return ops::full({}, to_scalar(v, "scalar_tensor"), dt(d), dev(device));
  });
  m.def("arange", [=](double a, double b, double s, const std::string& d, const std::string& device) {
    return ops::arange(a, b, s, dt(d), dev(device));
  });
  m.def("linspace", [=](double a, double b, int64_t n, const std::string& d, const std::string& device) {
    return ops::linspace(a, b, n, dt(d), dev(device));
  });
  m.def("logspace", [=](double a, double b, int64_t n, double base, const std::string& d, const std::string& device) {
    return ops::logspace(a, b, n, base, dt(d), dev(device));
  });
  m.def("bincount", &ops::bincount);
  m.def("eye", [=](int64_t n, int64_t k, const std::string& d, const std::string& device) {
    return ops::eye(n, k, dt(d), dev(device));
  });
  m.def("manual_seed", [](py::int_ seed) {
    // Any Python int: keep the low 64 bits, as PyTorch does for negative seeds.
    uint64_t s = PyLong_AsUnsignedLongLongMask(seed.ptr());
    ops::manual_seed(s);
  });
  m.def("initial_seed", &ops::initial_seed);
  m.def("get_rng_state", &ops::get_rng_state);
  m.def("set_rng_state", &ops::set_rng_state);
  m.def("rand", [=](const Shape& s, const std::string& d, const std::string& device) { return ops::rand(s, dt(d), dev(device)); });
  m.def("randn", [=](const Shape& s, const std::string& d, const std::string& device) { return ops::randn(s, dt(d), dev(device)); });
  m.def("randint", [=](int64_t lo, int64_t hi, const Shape& s, const std::string& device) {
    return ops::randint(lo, hi, s, dev(device));
  });
  m.def("randperm", [=](int64_t n, const std::string& device) { return ops::randperm(n, dev(device)); });
  m.def("uniform_", [](Tensor t, double a, double b) { return ops::uniform_(t, a, b); });
  m.def("normal_", [](Tensor t, double mean, double std) { return ops::normal_(t, mean, std); });
  m.def("bernoulli", &ops::bernoulli);
  m.def("bernoulli_scalar", [=](const Shape& s, double p, const std::string& d, const std::string& device) {
    return ops::bernoulli_scalar(s, p, dt(d), dev(device));
  });
  // out_dtype: the dtype name of an out= tensor, for PyTorch's "expects Long tensor out" check.
  m.def("multinomial", [=](const Tensor& probs, int64_t n_sample, bool replacement, std::optional<std::string> out_dtype) {
    const int64_t work = probs.numel() + (probs.sizes.size() == 2 ? probs.sizes[0] : 1) * n_sample;
    return nogil_if_big(work, [&] {
      return ops::multinomial(probs, n_sample, replacement, out_dtype ? std::optional<DType>(dt(*out_dtype)) : std::nullopt);
    });
  });

  // ---- views and copies
  m.def("view", &view);
  m.def("reshape", &reshape);
  m.def("permute", &permute);
  m.def("transpose", &transpose);
  m.def("expand", &expand);
  m.def("slice", &slice);
  m.def("select", &select);
  // Every select along dim in one call (unbind without autograd: one binding call, not one per slice).
  m.def("unbind", [](const Tensor& t, int64_t dim) {
    std::vector<Tensor> out;
    const int64_t n = t.dim() ? t.sizes[wrap_dim(dim, t.dim(), "unbind")] : 0;
    out.reserve(n);
    for (int64_t i = 0; i < n; ++i) out.push_back(select(t, dim, i));
    return out;
  });
  m.def("unsqueeze", &unsqueeze);
  m.def("squeeze", &squeeze);
  m.def("as_strided", &as_strided);
  m.def("view_dtype", [=](const Tensor& t, const std::string& d) { return view_dtype(t, dt(d)); });
  m.def("storage_as", [=](const Tensor& t, const std::string& d) { return storage_as(t, dt(d)); });
  m.def("diagonal", &diagonal);
  m.def("contiguous", &contiguous);
  m.def("clone", &clone);
  m.def("copy_", [](const Tensor& dst, const Tensor& src) {
    copy_(dst, src);
    return dst;
  });
  m.def("fill_", [](const Tensor& t, py::object v) {
    fill_(t, to_scalar(v, "fill_"));
    return t;
  });
  m.def("to", [=](const Tensor& t, const std::string& d, const std::string& device, bool copy) {
    return to(t, dt(d), dev(device), copy);
  });
  m.def("broadcast_shapes", [](const Shape& a, const Shape& b, const std::string& op) {
    return broadcast_shapes(a, b, op.c_str());
  }, py::arg("a"), py::arg("b"), py::arg("op") = "broadcast_shapes");

  // ---- elementwise
  struct U { const char* name; UnaryOp op; };
  static const U unaries[] = {
      {"neg", UnaryOp::Neg}, {"abs", UnaryOp::Abs}, {"exp", UnaryOp::Exp}, {"log", UnaryOp::Log},
      {"log2", UnaryOp::Log2}, {"log10", UnaryOp::Log10}, {"log1p", UnaryOp::Log1p}, {"expm1", UnaryOp::Expm1},
      {"sqrt", UnaryOp::Sqrt}, {"rsqrt", UnaryOp::Rsqrt}, {"sin", UnaryOp::Sin}, {"cos", UnaryOp::Cos},
      {"tan", UnaryOp::Tan}, {"tanh", UnaryOp::Tanh}, {"sigmoid", UnaryOp::Sigmoid}, {"relu", UnaryOp::Relu},
      {"sign", UnaryOp::Sign}, {"floor", UnaryOp::Floor}, {"ceil", UnaryOp::Ceil}, {"round", UnaryOp::Round},
      {"trunc", UnaryOp::Trunc}, {"reciprocal", UnaryOp::Reciprocal}, {"erf", UnaryOp::Erf},
      {"square", UnaryOp::Square}, {"logical_not", UnaryOp::LogicalNot}, {"isnan", UnaryOp::IsNan},
      {"isinf", UnaryOp::IsInf}, {"isfinite", UnaryOp::IsFinite}, {"bitwise_not", UnaryOp::BitwiseNot},
      {"asin", UnaryOp::Asin}, {"acos", UnaryOp::Acos}, {"atan", UnaryOp::Atan}, {"sinh", UnaryOp::Sinh},
      {"cosh", UnaryOp::Cosh}, {"asinh", UnaryOp::Asinh}, {"acosh", UnaryOp::Acosh}, {"atanh", UnaryOp::Atanh},
      {"erfc", UnaryOp::Erfc}, {"erfinv", UnaryOp::Erfinv}, {"lgamma", UnaryOp::Lgamma},
      {"digamma", UnaryOp::Digamma}, {"trigamma", UnaryOp::Trigamma},
      // torch.special (core/special_functions.h)
      {"special_bessel_j0", UnaryOp::BesselJ0}, {"special_bessel_j1", UnaryOp::BesselJ1},
      {"special_bessel_y0", UnaryOp::BesselY0}, {"special_bessel_y1", UnaryOp::BesselY1},
      {"special_modified_bessel_i0", UnaryOp::ModifiedBesselI0}, {"special_modified_bessel_i1", UnaryOp::ModifiedBesselI1},
      {"special_modified_bessel_k0", UnaryOp::ModifiedBesselK0}, {"special_modified_bessel_k1", UnaryOp::ModifiedBesselK1},
      {"special_scaled_modified_bessel_k0", UnaryOp::ScaledModifiedBesselK0},
      {"special_scaled_modified_bessel_k1", UnaryOp::ScaledModifiedBesselK1},
      {"special_spherical_bessel_j0", UnaryOp::SphericalBesselJ0}, {"special_airy_ai", UnaryOp::AiryAi},
      {"special_erfcx", UnaryOp::Erfcx}, {"special_log_ndtr", UnaryOp::LogNdtr}, {"special_ndtri", UnaryOp::Ndtri},
      {"i0", UnaryOp::I0}, {"special_i0e", UnaryOp::I0e}, {"special_i1", UnaryOp::I1}, {"special_i1e", UnaryOp::I1e}};
  for (const auto& u : unaries) {
    UnaryOp op = u.op;
    m.def(u.name, [op](const Tensor& a, const OptT& out) { return ops::unary(op, a, out); }, py::arg("a"),
          py::arg("out") = py::none());
  }
  struct B { const char* name; BinaryOp op; };
  static const B binaries[] = {
      {"add", BinaryOp::Add}, {"sub", BinaryOp::Sub}, {"mul", BinaryOp::Mul}, {"div", BinaryOp::Div},
      {"pow", BinaryOp::Pow}, {"maximum", BinaryOp::Maximum}, {"minimum", BinaryOp::Minimum},
      {"remainder", BinaryOp::Remainder}, {"floor_divide", BinaryOp::FloorDivide}, {"atan2", BinaryOp::Atan2},
      {"eq", BinaryOp::Eq}, {"ne", BinaryOp::Ne}, {"lt", BinaryOp::Lt}, {"le", BinaryOp::Le}, {"gt", BinaryOp::Gt},
      {"ge", BinaryOp::Ge}, {"logical_and", BinaryOp::LogicalAnd}, {"logical_or", BinaryOp::LogicalOr},
      {"logical_xor", BinaryOp::LogicalXor}, {"bitwise_and", BinaryOp::BitwiseAnd},
      {"bitwise_or", BinaryOp::BitwiseOr}, {"bitwise_xor", BinaryOp::BitwiseXor},
      {"fused_tanh_backward", BinaryOp::TanhBackward}, {"sigmoid_backward", BinaryOp::SigmoidBackward},
      {"fmod", BinaryOp::Fmod}, {"hypot", BinaryOp::Hypot},
      // torch.special (core/special_functions.h)
      {"special_zeta", BinaryOp::Zeta}, {"igamma", BinaryOp::Igamma}, {"igammac", BinaryOp::Igammac},
      {"special_chebyshev_polynomial_t", BinaryOp::ChebyshevT}, {"special_chebyshev_polynomial_u", BinaryOp::ChebyshevU},
      {"special_chebyshev_polynomial_v", BinaryOp::ChebyshevV}, {"special_chebyshev_polynomial_w", BinaryOp::ChebyshevW},
      {"special_shifted_chebyshev_polynomial_t", BinaryOp::ShiftedChebyshevT},
      {"special_shifted_chebyshev_polynomial_u", BinaryOp::ShiftedChebyshevU},
      {"special_shifted_chebyshev_polynomial_v", BinaryOp::ShiftedChebyshevV},
      {"special_shifted_chebyshev_polynomial_w", BinaryOp::ShiftedChebyshevW},
      {"special_hermite_polynomial_h", BinaryOp::HermiteH}, {"special_hermite_polynomial_he", BinaryOp::HermiteHe},
      {"special_laguerre_polynomial_l", BinaryOp::LaguerreL}, {"special_legendre_polynomial_p", BinaryOp::LegendreP}};
  for (const auto& b : binaries) {
    BinaryOp op = b.op;
    m.def(b.name, [op](const Tensor& a, const Tensor& c, const OptT& out) { return ops::binary(op, a, c, out); },
          py::arg("a"), py::arg("b"), py::arg("out") = py::none());
  }
  m.def("clamp", [](const Tensor& a, py::object lo, py::object hi, const OptT& out) {
    return ops::clamp(a, opt_scalar(lo, "clamp"), opt_scalar(hi, "clamp"), out);
  }, py::arg("a"), py::arg("min") = py::none(), py::arg("max") = py::none(), py::arg("out") = py::none());
  m.def("where", &ops::where);
  m.def("addcmul", &ops::addcmul, py::arg("input"), py::arg("tensor1"), py::arg("tensor2"), py::arg("value"),
        py::arg("out") = py::none());
  m.def("addcdiv", &ops::addcdiv, py::arg("input"), py::arg("tensor1"), py::arg("tensor2"), py::arg("value"),
        py::arg("out") = py::none());
  // weight: a tensor, or a number (a 0-d tensor of input's dtype, as PyTorch rounds a scalar weight).
  m.def("lerp", [](const Tensor& s, const Tensor& e, py::handle w, const OptT& out) {
    if (py::isinstance<Tensor>(w)) return ops::lerp(s, e, w.cast<const Tensor&>(), out);
    return ops::lerp(s, e, ops::full({}, to_scalar(w, "lerp"), s.dtype, s.device()), out);
  }, py::arg("input"), py::arg("end"), py::arg("weight"), py::arg("out") = py::none());
  m.def("threshold_backward", &ops::threshold_backward);

  // ---- reductions
  auto red = [&](const char* name, ReduceOp op) {
    m.def(name, [op](const Tensor& t, const Dims& dims, bool keepdim) { return ops::reduce(op, t, dims, keepdim); },
          py::arg("t"), py::arg("dims") = Dims{}, py::arg("keepdim") = false);
  };
  red("sum", ReduceOp::Sum);
  red("mean", ReduceOp::Mean);
  red("prod", ReduceOp::Prod);
  red("amax", ReduceOp::Max);
  red("amin", ReduceOp::Min);
  red("all", ReduceOp::All);
  red("any", ReduceOp::Any);
  m.def("norm2", &ops::norm2);
  m.def("var", [](const Tensor& t, const Dims& dims, double correction, bool keepdim) {
    return ops::var(t, dims, correction, keepdim, false);
  });
  m.def("std", [](const Tensor& t, const Dims& dims, double correction, bool keepdim) {
    return ops::var(t, dims, correction, keepdim, true);
  });
  m.def("logsumexp", &ops::logsumexp);
  m.def("max_dim", [](const Tensor& t, int64_t dim, bool keepdim) { return ops::max_min_dim(t, dim, keepdim, true); });
  m.def("min_dim", [](const Tensor& t, int64_t dim, bool keepdim) { return ops::max_min_dim(t, dim, keepdim, false); });
  m.def("argmax", [](const Tensor& t, std::optional<int64_t> dim, bool keepdim) { return ops::arg_max_min(t, dim, keepdim, true); },
        py::arg("t"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
  m.def("argmin", [](const Tensor& t, std::optional<int64_t> dim, bool keepdim) { return ops::arg_max_min(t, dim, keepdim, false); },
        py::arg("t"), py::arg("dim") = py::none(), py::arg("keepdim") = false);

  // ---- linear algebra, softmax
  m.def("mm", &ops::mm, py::call_guard<py::gil_scoped_release>());
  // 1-D . 1-D as one call (matmul's dot product without a graph): the [1, K] x [K, 1] product, 0-d.
  m.def("dot", [](const Tensor& a, const Tensor& b) {
    FLB_CHECK(a.dim() == 1 && b.dim() == 1, RuntimeError, "dot: 1D tensors expected, but got ", a.dim(), "D and ",
              b.dim(), "D tensors");
    return reshape(ops::mm(reshape(a, {1, a.sizes[0]}), reshape(b, {b.sizes[0], 1})), {});
  }, py::call_guard<py::gil_scoped_release>());
  m.def("bmm", &ops::bmm, py::call_guard<py::gil_scoped_release>());
  m.def("linear", &ops::linear, py::arg("x"), py::arg("weight"), py::arg("bias") = py::none(),
        py::call_guard<py::gil_scoped_release>());
  m.def("cdist", &ops::cdist, py::arg("x1"), py::arg("x2"), py::arg("p"), py::call_guard<py::gil_scoped_release>());
  m.def("cdist_backward", &ops::cdist_backward, py::arg("grad"), py::arg("x1"), py::arg("x2"), py::arg("dist"),
        py::arg("p"), py::call_guard<py::gil_scoped_release>());
  m.def("lstm_cell", &ops::lstm_cell, py::arg("xp"), py::arg("hp"), py::arg("c_prev"));
  m.def("lstm_cell_backward", &ops::lstm_cell_backward, py::arg("dh"), py::arg("dc"), py::arg("acts"),
        py::arg("c_prev"), py::arg("c"));
  m.def("lstm_layer", &ops::lstm_layer, py::arg("xp"), py::arg("h0"), py::arg("c0"), py::arg("w_hh"), py::arg("b_hh"),
        py::arg("reverse"), py::arg("keep"), py::call_guard<py::gil_scoped_release>());
  m.def("gru_cell", &ops::gru_cell, py::arg("xp"), py::arg("hp"), py::arg("h_prev"));
  m.def("gru_cell_backward", &ops::gru_cell_backward, py::arg("dh"), py::arg("acts"), py::arg("hp"), py::arg("h_prev"));
  m.def("pdist", &ops::pdist, py::arg("x"), py::arg("p"), py::call_guard<py::gil_scoped_release>());
  m.def("pdist_backward", &ops::pdist_backward, py::arg("grad"), py::arg("x"), py::arg("dist"), py::arg("p"),
        py::call_guard<py::gil_scoped_release>());
  m.def("softmax", [](const Tensor& t, int64_t dim) { return ops::softmax(t, dim, false); });
  m.def("log_softmax", [](const Tensor& t, int64_t dim) { return ops::softmax(t, dim, true); });
  m.def("softmax_backward", [](const Tensor& g, const Tensor& y, int64_t dim) { return ops::softmax_backward(g, y, dim, false); });
  m.def("log_softmax_backward", [](const Tensor& g, const Tensor& y, int64_t dim) { return ops::softmax_backward(g, y, dim, true); });

  // ---- indexing and joining
  m.def("index", &ops::index);
  m.def("index_put_", [](Tensor t, const std::vector<OptT>& idx, const Tensor& v, bool acc) {
    ops::index_put_(t, idx, v, acc);
    return t;
  }, py::arg("t"), py::arg("indices"), py::arg("values"), py::arg("accumulate") = false);
  m.def("nonzero", &ops::nonzero);
  m.def("masked_select", &ops::masked_select);
  m.def("one_hot", &ops::one_hot);
  m.def("cat", &ops::cat);
  m.def("stack", &ops::stack);
  m.def("index_select", &ops::index_select, py::arg("t"), py::arg("dim"), py::arg("index"),
        py::arg("allow_negative") = false);
  m.def("gather", &ops::gather);
  m.def("flip", &ops::flip, py::arg("t"), py::arg("dims"));
  m.def("roll", &ops::roll, py::arg("t"), py::arg("shifts"), py::arg("dims"));
  m.def("tri", &ops::tri, py::arg("t"), py::arg("diagonal"), py::arg("upper"), py::arg("in_place") = false);
  m.def("scatter_add_", [](Tensor t, int64_t dim, const Tensor& idx, const Tensor& src) {
    ops::scatter_add_(t, dim, idx, src);
    return t;
  });
  m.def("scatter_reduce_", [](Tensor t, int64_t dim, const Tensor& idx, const Tensor& src, const std::string& reduce) {
    ops::scatter_reduce_(t, dim, idx, src, reduce);
    return t;
  }, py::arg("self"), py::arg("dim"), py::arg("index"), py::arg("src"), py::arg("reduce"));

  // ---- grid_sample (csrc/ops/grid_sample.cpp): input [N, C, H, W], grid [N, OH, OW, 2] (or 5-D, grid [..., 3])
  m.def("grid_sample", &ops::grid_sample, py::arg("input"), py::arg("grid"), py::arg("mode"),
        py::arg("padding_mode"), py::arg("align_corners"), py::call_guard<py::gil_scoped_release>());
  m.def("grid_sample_backward", [](const Tensor& gy, const Tensor& x, const Tensor& grid, const std::string& mode,
                                   const std::string& padding_mode, bool align_corners, std::array<bool, 2> mask) {
    py::gil_scoped_release nogil;
    return ops::grid_sample_backward(gy, x, grid, mode, padding_mode, align_corners, mask);
  }, py::arg("grad_output"), py::arg("input"), py::arg("grid"), py::arg("mode"), py::arg("padding_mode"),
        py::arg("align_corners"), py::arg("output_mask"));
}

}  // namespace flambeau::python
