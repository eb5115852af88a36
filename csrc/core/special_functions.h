// torch.special's Bessel, Airy, error-function and orthogonal-polynomial families, the Hurwitz zeta and
// the regularized incomplete gamma functions, in float64, shared by the CPU scalar loops
// (cpu/elementwise.cpp) and the CUDA elementwise kernels (cuda/elementwise.cu). The float32 ops round
// the float64 value once (the float32 orthogonal polynomials take their non-finite values, overflow
// and the degree limit, from a float evaluation as PyTorch's: see their section).
//
// Algorithms: the Cephes rational and Chebyshev approximations (S. Moshier, "Methods and Programs for
// Mathematical Functions", 1989; the published coefficient tables), with the polynomial lengths,
// branch points and evaluation order PyTorch uses, so that float64 results are PyTorch's bits (PyTorch
// drops the leading 1 of Cephes' monic denominators in j0/j1/y0/y1: its values differ from the true
// Bessel functions by up to ~1e-6 relative near x = 5; we follow PyTorch, the project's oracle).
// erfcx is our own: exp(x^2) erfc(x) with x^2 split exactly into hi + lo for x <= 26, a continued
// fraction above (PyTorch uses the Faddeeva package's 100-piece Chebyshev table; both are within a few
// ulps of the true value). The incomplete gamma functions use the power series / Legendre continued
// fraction (the former numpy host path of python/flambeau/_functions/extra.py).
//
// Edge values (poles, inf, NaN, |x| > 1 for the Chebyshev polynomials, n < 0, the Hermite degree
// limit of 128 for float32 and 512 for float64) follow PyTorch: see each function.
#pragma once
#include <math.h>
#include <stdint.h>
#include "core/philox.h"  // FLB_HOST_DEVICE
#include "core/special_math.h"  // kPi
#include "ops/op_enums.h"

namespace flambeau::special {

// Coefficient tables: one static copy on the host; on the device a local constant array (function
// scope statics are not device code), which the unrolled loops fold into immediates.
#ifdef __CUDA_ARCH__
#define FLB_TABLE const double
#else
#define FLB_TABLE static constexpr double
#endif

constexpr double kMachEp = 1.11022302462515654042e-16;  // 2^-53
constexpr double kSqrt2OverPi = 0.797884560802865355879892119868763737;
constexpr double kPiOver4 = 0.785398163397448309615660845819875721;
constexpr double kThreePiOver4 = 2.356194490192344928846982537459627163;
constexpr double kTwoOverPi = 0.636619772367581343075535053490057448;
constexpr double kInvSqrtPi = 0.56418958354775628694807945156;

// c[0] z^(n-1) + ... + c[n-1] (Horner).
template <int N>
FLB_HOST_DEVICE double horner(double z, const double (&c)[N]) {
  double acc = c[0];
  for (int i = 1; i < N; ++i) acc = acc * z + c[i];
  return acc;
}

// sum' c_i T_i(y/2) by Clenshaw's recurrence, in Cephes' chbevl form (coefficients highest first).
template <int N>
FLB_HOST_DEVICE double clenshaw(double y, const double (&c)[N]) {
  double b0 = c[0], b1 = 0, b2 = 0;
  for (int i = 1; i < N; ++i) {
    b2 = b1;
    b1 = b0;
    b0 = y * b1 - b2 + c[i];
  }
  return 0.5 * (b0 - b2);
}

// ------------------------------------------------------------------ Bessel functions of the first and second kind
// |x| <= 5: a rational function in x^2 times the factors of the first zeros; above: Hankel's asymptotic
// form with rational P(25/x^2), Q(25/x^2), phase x - pi/4 (order 0) or x - 3pi/4 (order 1).
FLB_HOST_DEVICE void bessel_pq(double x, bool order1, double& p, double& q) {
  FLB_TABLE PP0[] = {7.96936729297347051624e-04, 8.28352392107440799803e-02, 1.23953371646414299388e+00,
                     5.44725003058768775090e+00, 8.74716500199817011941e+00, 5.30324038235394892183e+00,
                     9.99999999999999997821e-01};
  FLB_TABLE PQ0[] = {9.24408810558863637013e-04, 8.56288474354474431428e-02, 1.25352743901058953537e+00,
                     5.47097740330417105182e+00, 8.76190883237069594232e+00, 5.30605288235394617618e+00,
                     1.00000000000000000218e+00};
  FLB_TABLE QP0[] = {-1.13663838898469149931e-02, -1.28252718670509318512e+00, -1.95539544257735972385e+01,
                     -9.32060152123768231369e+01, -1.77681167980488050595e+02, -1.47077505154951170175e+02,
                     -5.14105326766599330220e+01, -6.05014350600728481186e+00};
  FLB_TABLE QQ0[] = {6.43178256118178023184e+01, 8.56430025976980587198e+02, 3.88240183605401609683e+03,
                     7.24046774195652478189e+03, 5.93072701187316984827e+03, 2.06209331660327847417e+03,
                     2.42005740240291393179e+02};
  FLB_TABLE PP1[] = {7.62125616208173112003e-04, 7.31397056940917570436e-02, 1.12719608129684925192e+00,
                     5.11207951146807644818e+00, 8.42404590141772420927e+00, 5.21451598682361504063e+00,
                     1.00000000000000000254e+00};
  FLB_TABLE PQ1[] = {5.71323128072548699714e-04, 6.88455908754495404082e-02, 1.10514232634061696926e+00,
                     5.07386386128601488557e+00, 8.39985554327604159757e+00, 5.20982848682361821619e+00,
                     9.99999999999999997461e-01};
  FLB_TABLE QP1[] = {5.10862594750176621635e-02, 4.98213872951233449420e+00, 7.58238284132545283818e+01,
                     3.66779609360150777800e+02, 7.10856304998926107277e+02, 5.97489612400613639965e+02,
                     2.11688757100572135698e+02, 2.52070205858023719784e+01};
  FLB_TABLE QQ1[] = {7.42373277035675149943e+01, 1.05644886038262816351e+03, 4.98641058337653607651e+03,
                     9.56231892404756170795e+03, 7.99704160447350683650e+03, 2.82619278517639096600e+03,
                     3.36093607810698293419e+02};
  // PyTorch forms 25/x^2 for order 0 and (5/x)(5/x) for order 1: the same rounding here.
  const double z = order1 ? 5.0 / x * (5.0 / x) : 25.0 / (x * x);
  if (order1) {
    p = horner(z, PP1) / horner(z, PQ1);
    q = horner(z, QP1) / horner(z, QQ1);
  } else {
    p = horner(z, PP0) / horner(z, PQ0);
    q = horner(z, QP0) / horner(z, QQ0);
  }
}

// J0: even; x < 1e-5 by its first two series terms.
FLB_HOST_DEVICE double bessel_j0(double x) {
  FLB_TABLE RP[] = {-4.79443220978201773821e+09, 1.95617491946556577543e+12, -2.49248344360967716204e+14,
                    9.70862251047306323952e+15};
  FLB_TABLE RQ[] = {4.99563147152651017219e+02, 1.73785401676374683123e+05, 4.84409658339962045305e+07,
                    1.11855537045356834862e+10, 2.11277520115489217587e+12, 3.10518229857422583814e+14,
                    3.18121955943204943306e+16, 1.71086294081043136091e+18};
  x = fabs(x);
  if (x <= 5.0) {
    if (x < 0.00001) return 1.0 - x * x / 4.0;
    const double z = x * x;
    return (z - 5.78318596294678452118e+00) * (z - 3.04712623436620863991e+01) * horner(z, RP) / horner(z, RQ);
  }
  double p, q;
  bessel_pq(x, false, p, q);
  return (p * cos(x - kPiOver4) - 5.0 / x * q * sin(x - kPiOver4)) * kSqrt2OverPi / sqrt(x);
}

// J1: odd (J1(-x) = -J1(x), the value for |x| negated).
FLB_HOST_DEVICE double bessel_j1_nonneg(double x);
FLB_HOST_DEVICE double bessel_j1(double x) { return x < 0 ? -bessel_j1_nonneg(-x) : bessel_j1_nonneg(x); }
FLB_HOST_DEVICE double bessel_j1_nonneg(double x) {
  FLB_TABLE RP[] = {-8.99971225705559398224e+08, 4.52228297998194034323e+11, -7.27494245221818276015e+13,
                    3.68295732863852883286e+15};
  FLB_TABLE RQ[] = {6.20836478118054335476e+02, 2.56987256757748830383e+05, 8.35146791431949253037e+07,
                    2.21511595479792499675e+10, 4.74914122079991414898e+12, 7.84369607876235854894e+14,
                    8.95222336184627338078e+16, 5.32278620332680085395e+18};
  if (x <= 5.0) {
    const double z = x * x;
    return horner(z, RP) / horner(z, RQ) * x * (z - 1.46819706421238932572e+01) * (z - 4.92184563216946036703e+01);
  }
  double p, q;
  bessel_pq(x, true, p, q);
  return (p * cos(x - kThreePiOver4) - 5.0 / x * q * sin(x - kThreePiOver4)) * kSqrt2OverPi / sqrt(x);
}

// Y0: -inf at 0, NaN for x < 0; small x as a rational function plus (2/pi) log(x) J0(x).
FLB_HOST_DEVICE double bessel_y0(double x) {
  FLB_TABLE YP[] = {1.55924367855235737965e+04, -1.46639295903971606143e+07, 5.43526477051876500413e+09,
                    -9.82136065717911466409e+11, 8.75906394395366999549e+13, -3.46628303384729719441e+15,
                    4.42733268572569800351e+16, -1.84950800436986690637e+16};
  FLB_TABLE YQ[] = {1.04128353664259848412e+03, 6.26107330137134956842e+05, 2.68919633393814121987e+08,
                    8.64002487103935000337e+10, 2.02979612750105546709e+13, 3.17157752842975028269e+15,
                    2.50596256172653059228e+17};
  if (x <= 5.0) {
    if (x == 0) return -INFINITY;
    if (x < 0) return NAN;
    const double z = x * x;
    return horner(z, YP) / horner(z, YQ) + kTwoOverPi * log(x) * bessel_j0(x);
  }
  double p, q;
  bessel_pq(x, false, p, q);
  return (p * sin(x - kPiOver4) + 5.0 / x * q * cos(x - kPiOver4)) * kSqrt2OverPi / sqrt(x);
}

// Y1: -inf at 0, NaN for x < 0.
FLB_HOST_DEVICE double bessel_y1(double x) {
  FLB_TABLE YP[] = {1.26320474790178026440e+09, -6.47355876379160291031e+11, 1.14509511541823727583e+14,
                    -8.12770255501325109621e+15, 2.02439475713594898196e+17, -7.78877196265950026825e+17};
  FLB_TABLE YQ[] = {5.94301592346128195359e+02, 2.35564092943068577943e+05, 7.34811944459721705660e+07,
                    1.87601316108706159478e+10, 3.88231277496238566008e+12, 6.20557727146953693363e+14,
                    6.87141087355300489866e+16, 3.97270608116560655612e+18};
  if (x <= 5.0) {
    if (x == 0) return -INFINITY;
    if (x < 0) return NAN;
    const double z = x * x;
    return x * (horner(z, YP) / horner(z, YQ)) + kTwoOverPi * (bessel_j1(x) * log(x) - 1.0 / x);
  }
  double p, q;
  bessel_pq(x, true, p, q);
  return (p * sin(x - kThreePiOver4) + 5.0 / x * q * cos(x - kThreePiOver4)) * kSqrt2OverPi / sqrt(x);
}

// ------------------------------------------------------------------ modified Bessel functions
// exp(-|x|) I0(|x|) as a Chebyshev series in |x|/2 - 2 on [0, 8] and in 32/|x| - 2 (times sqrt|x|) above.
FLB_HOST_DEVICE double i0e_series(double ax, bool& large) {
  FLB_TABLE A[] = {-4.41534164647933937950e-18, 3.33079451882223809783e-17, -2.43127984654795469359e-16,
                   1.71539128555513303061e-15,  -1.16853328779934516808e-14, 7.67618549860493561688e-14,
                   -4.85644678311192946090e-13, 2.95505266312963983461e-12, -1.72682629144155570723e-11,
                   9.67580903537323691224e-11,  -5.18979560163526290666e-10, 2.65982372468238665035e-09,
                   -1.30002500998624804212e-08, 6.04699502254191894932e-08, -2.67079385394061173391e-07,
                   1.11738753912010371815e-06,  -4.41673835845875056359e-06, 1.64484480707288970893e-05,
                   -5.75419501008210370398e-05, 1.88502885095841655729e-04, -5.76375574538582365885e-04,
                   1.63947561694133579842e-03,  -4.32430999505057594430e-03, 1.05464603945949983183e-02,
                   -2.37374148058994688156e-02, 4.93052842396707084878e-02, -9.49010970480476444210e-02,
                   1.71620901522208775349e-01,  -3.04682672343198398683e-01, 6.76795274409476084995e-01};
  FLB_TABLE B[] = {-7.23318048787475395456e-18, -4.83050448594418207126e-18, 4.46562142029675999901e-17,
                   3.46122286769746109310e-17,  -2.82762398051658348494e-16, -3.42548561967721913462e-16,
                   1.77256013305652638360e-15,  3.81168066935262242075e-15,  -9.55484669882830764870e-15,
                   -4.15056934728722208663e-14, 1.54008621752140982691e-14,  3.85277838274214270114e-13,
                   7.18012445138366623367e-13,  -1.79417853150680611778e-12, -1.32158118404477131188e-11,
                   -3.14991652796324136454e-11, 1.18891471078464383424e-11,  4.94060238822496958910e-10,
                   3.39623202570838634515e-09,  2.26666899049817806459e-08,  2.04891858946906374183e-07,
                   2.89137052083475648297e-06,  6.88975834691682398426e-05,  3.36911647825569408990e-03,
                   8.04490411014108831608e-01};
  large = !(ax <= 8.0);
  return large ? clenshaw(32.0 / ax - 2.0, B) : clenshaw(ax / 2.0 - 2.0, A);
}

// exp(-|x|) I1(|x|) / |x| on [0, 8], exp(-|x|) I1(|x|) sqrt|x| above (Chebyshev series as for I0).
FLB_HOST_DEVICE double i1e_series(double ax, bool& large) {
  FLB_TABLE A[] = {2.77791411276104639959e-18,  -2.11142121435816608115e-17, 1.55363195773620046921e-16,
                   -1.10559694773538630805e-15, 7.60068429473540693410e-15,  -5.04218550472791168711e-14,
                   3.22379336594557470981e-13,  -1.98397439776494371520e-12, 1.17361862988909016308e-11,
                   -6.66348972350202774223e-11, 3.62559028155211703701e-10,  -1.88724975172282928790e-09,
                   9.38153738649577178388e-09,  -4.44505912879632808065e-08, 2.00329475355213526229e-07,
                   -8.56872026469545474066e-07, 3.47025130813767847674e-06,  -1.32731636560394358279e-05,
                   4.78156510755005422638e-05,  -1.61760815825896745588e-04, 5.12285956168575772895e-04,
                   -1.51357245063125314899e-03, 4.15642294431288815669e-03,  -1.05640848946261981558e-02,
                   2.47264490306265168283e-02,  -5.29459812080949914269e-02, 1.02643658689847095384e-01,
                   -1.76416518357834055153e-01, 2.52587186443633654823e-01};
  FLB_TABLE B[] = {7.51729631084210481353e-18,  4.41434832307170791151e-18,  -4.65030536848935832153e-17,
                   -3.20952592199342395980e-17, 2.96262899764595013876e-16,  3.30820231092092828324e-16,
                   -1.88035477551078244854e-15, -3.81440307243700780478e-15, 1.04202769841288027642e-14,
                   4.27244001671195135429e-14,  -2.10154184277266431302e-14, -4.08355111109219731823e-13,
                   -7.19855177624590851209e-13, 2.03562854414708950722e-12,  1.41258074366137813316e-11,
                   3.25260358301548823856e-11,  -1.89749581235054123450e-11, -5.58974346219658380687e-10,
                   -3.83538038596423702205e-09, -2.63146884688951950684e-08, -2.51223623787020892529e-07,
                   -3.88256480887769039346e-06, -1.10588938762623716291e-04, -9.76109749136146840777e-03,
                   7.78576235018280120474e-01};
  large = !(ax <= 8.0);
  return large ? clenshaw(32.0 / ax - 2.0, B) : clenshaw(ax / 2.0 - 2.0, A);
}

// I0 (torch.special.modified_bessel_i0 and torch.i0: the same expression): NaN at +-inf (inf / inf).
FLB_HOST_DEVICE double modified_bessel_i0(double x) {
  const double ax = fabs(x);
  bool large;
  const double c = i0e_series(ax, large);
  return large ? exp(ax) * c / sqrt(ax) : exp(ax) * c;
}

FLB_HOST_DEVICE double i0e(double x) {
  const double ax = fabs(x);
  bool large;
  const double c = i0e_series(ax, large);
  return large ? c / sqrt(ax) : c;
}

// I1, odd (torch.special.modified_bessel_i1): c |x| e^|x| on [0, 8].
FLB_HOST_DEVICE double modified_bessel_i1(double x) {
  const double ax = fabs(x);
  bool large;
  const double c = i1e_series(ax, large);
  const double r = large ? exp(ax) * c / sqrt(ax) : c * ax * exp(ax);
  return x < 0 ? -r : r;
}

// torch.special.i1: the same function, multiplied in the other order (e^|x| |x| c) as PyTorch's i1.
FLB_HOST_DEVICE double i1(double x) {
  const double ax = fabs(x);
  bool large;
  const double c = i1e_series(ax, large);
  const double r = large ? exp(ax) * c / sqrt(ax) : exp(ax) * ax * c;
  return x < 0 ? -r : r;
}

FLB_HOST_DEVICE double i1e(double x) {
  const double ax = fabs(x);
  bool large;
  const double c = i1e_series(ax, large);
  const double r = large ? c / sqrt(ax) : c * ax;
  return x < 0 ? -r : r;
}

// K0, K1 and their scaled forms e^x K(x): inf at 0, NaN for x < 0. On (0, 2] a Chebyshev series in
// x^2 - 2 plus the log(x/2) I(x) term; above, a Chebyshev series in 8/x - 2 (divided by sqrt x).
FLB_HOST_DEVICE double bessel_k(double x, bool order1, bool scaled) {
  FLB_TABLE A0[] = {1.37446543561352307156e-16, 4.25981614279661018399e-14, 1.03496952576338420167e-11,
                    1.90451637722020886025e-09, 2.53479107902614945675e-07, 2.28621210311945178607e-05,
                    1.26461541144692592338e-03, 3.59799365153615016266e-02, 3.44289899924628486886e-01,
                    -5.35327393233902768720e-01};
  FLB_TABLE B0[] = {5.30043377268626276149e-18,  -1.64758043015242134646e-17, 5.21039150503902756861e-17,
                    -1.67823109680541210385e-16, 5.51205597852431940784e-16,  -1.84859337734377901440e-15,
                    6.34007647740507060557e-15,  -2.22751332699166985548e-14, 8.03289077536357521100e-14,
                    -2.98009692317273043925e-13, 1.14034058820847496303e-12,  -4.51459788337394416547e-12,
                    1.85594911495471785253e-11,  -7.95748924447710747776e-11, 3.57739728140030116597e-10,
                    -1.69753450938905987466e-09, 8.57403401741422608519e-09,  -4.66048989768794782956e-08,
                    2.76681363944501510342e-07,  -1.83175552271911948767e-06, 1.39498137188764993662e-05,
                    -1.28495495816278026384e-04, 1.56988388573005337491e-03,  -3.14481013119645005427e-02,
                    2.44030308206595545468e+00};
  FLB_TABLE A1[] = {-7.02386347938628759343e-18, -2.42744985051936593393e-15, -6.66690169419932900609e-13,
                    -1.41148839263352776110e-10, -2.21338763073472585583e-08, -2.43340614156596823496e-06,
                    -1.73028895751305206302e-04, -6.97572385963986435018e-03, -1.22611180822657148235e-01,
                    -3.53155960776544875667e-01, 1.52530022733894777053e+00};
  FLB_TABLE B1[] = {-5.75674448366501715755e-18, 1.79405087314755922667e-17,  -5.68946255844285935196e-17,
                    1.83809354436663880070e-16,  -6.05704724837331885336e-16, 2.03870316562433424052e-15,
                    -7.01983709041831346144e-15, 2.47715442448130437068e-14,  -8.97670518232499435011e-14,
                    3.34841966607842919884e-13,  -1.28917396095102890680e-12, 5.13963967348173025100e-12,
                    -2.12996783842756842877e-11, 9.21831518760500529508e-11,  -4.19035475934189648750e-10,
                    2.01504975519703286596e-09,  -1.03457624656780970260e-08, 5.74108412545004946722e-08,
                    -3.50196060308781257119e-07, 2.40648494783721712015e-06,  -1.93619797416608296024e-05,
                    1.95215518471351631108e-04,  -2.85781685962277938680e-03, 1.03923736576817238437e-01,
                    2.72062619048444266945e+00};
  if (x == 0) return INFINITY;
  if (x < 0) return NAN;
  if (x <= 2.0) {
    const double y = x * x - 2.0;
    double r;
    if (order1) r = log(0.5 * x) * modified_bessel_i1(x) + clenshaw(y, A1) / x;
    else r = clenshaw(y, A0) - log(0.5 * x) * modified_bessel_i0(x);
    return scaled ? r * exp(x) : r;
  }
  const double c = order1 ? clenshaw(8.0 / x - 2.0, B1) : clenshaw(8.0 / x - 2.0, B0);
  return scaled ? c / sqrt(x) : exp(-x) * c / sqrt(x);
}

// sin(x) / x; its Taylor polynomial (through x^12) for |x| < 1/2; 0 at +-inf.
FLB_HOST_DEVICE double spherical_bessel_j0(double x) {
  if (isinf(x)) return 0.0;
  if (fabs(x) < 0.5) {
    const double z = x * x;
    return 1.0 + z * (-1.0 / 6.0 + z * (1.0 / 120.0 + z * (-1.0 / 5040.0 + z * (1.0 / 362880.0 +
                 z * (-1.0 / 39916800.0 + z * (1.0 / 6227020800.0))))));
  }
  return sin(x) / x;
}

// Ai(x): NaN at +-inf, 0 above x = 103.892; x < -2.09 by the oscillating asymptotic form with phase
// zeta + pi/4 (zeta = 2/3 |x|^1.5), x >= 2.09 by the decaying one, and between them the Maclaurin
// series c1 f(x) - c2 g(x) summed to float64 precision.
FLB_HOST_DEVICE double airy_ai(double x) {
  FLB_TABLE AN[] = {3.46538101525629032477e-01, 1.20075952739645805542e+01, 7.62796053615234516538e+01,
                    1.68089224934630576269e+02, 1.59756391350164413639e+02, 7.05360906840444183113e+01,
                    1.40264691163389668864e+01, 9.99999999999999995305e-01};
  FLB_TABLE AD[] = {5.67594532638770212846e-01, 1.47562562584847203173e+01, 8.45138970141474626562e+01,
                    1.77318088145400459522e+02, 1.64234692871529701831e+02, 7.14778400825575695274e+01,
                    1.40959135607834029598e+01, 1.00000000000000000470e+00};
  FLB_TABLE AFN[] = {-1.31696323418331795333e-01, -6.26456544431912369773e-01, -6.93158036036933542233e-01,
                     -2.79779981545119124951e-01, -4.91900132609500318020e-02, -4.06265923594885404393e-03,
                     -1.59276496239262096340e-04, -2.77649108155232920844e-06, -1.67787698489114633780e-08};
  FLB_TABLE AFD[] = {1.33560420706553243746e+01, 3.26825032795224613948e+01, 2.67367040941499554804e+01,
                     9.18707402907259625840e+00, 1.47529146771666414581e+00, 1.15687173795188044134e-01,
                     4.40291641615211203805e-03, 7.54720348287414296618e-05, 4.51850092970580378464e-07};
  FLB_TABLE AGN[] = {1.97339932091685679179e-02, 3.91103029615688277255e-01, 1.06579897599595591108e+00,
                     9.39169229816650230044e-01, 3.51465656105547619242e-01, 6.33888919628925490927e-02,
                     5.85804113048388458567e-03, 2.82851600836737019778e-04, 6.98793669997260967291e-06,
                     8.11789239554389293311e-08, 3.41551784765923618484e-10};
  FLB_TABLE AGD[] = {9.30892908077441974853e+00, 1.98352928718312140417e+01, 1.55646628932864612953e+01,
                     5.47686069422975497931e+00, 9.54293611618961883998e-01, 8.64580826352392193095e-02,
                     4.12656523824222607191e-03, 1.01259085116509135510e-04, 1.17166733214413521882e-06,
                     4.91834570062930015649e-09};
  if (isinf(x)) return NAN;
  if (x > 103.892) return 0.0;
  if (x < -2.09) {
    const double zeta = -2.0 * x * sqrt(-x) / 3.0;
    const double z = 1.0 / zeta, zz = z * z;
    const double t = zeta + 0.25 * kPi;
    return kInvSqrtPi / sqrt(sqrt(-x)) *
           (sin(t) * (1.0 + zz * horner(zz, AFN) / horner(zz, AFD)) - cos(t) * (z * horner(zz, AGN) / horner(zz, AGD)));
  }
  if (x >= 2.09) {
    const double zeta = 2.0 * x * sqrt(x) / 3.0;
    const double w = 1.0 / zeta;
    return kInvSqrtPi * (horner(w, AN) / horner(w, AD)) / (2.0 * sqrt(sqrt(x)) * exp(zeta));
  }
  // f = sum x^(3k) / (3k)! * prod(3j - 2), g likewise with x^(3k+1): the terms built incrementally.
  double f = 1.0, g = x, k = 1.0, m = 1.0, n = x, t = 1.0;
  const double z = x * x * x;
  while (t > 2.220446049250313e-16) {
    m *= z;
    k += 1.0;
    m /= k;
    n *= z;
    k += 1.0;
    n /= k;
    m /= k;
    f += m;
    k += 1.0;
    n /= k;
    g += n;
    t = fabs(m / f);
  }
  return 0.355028053887817239260 * f - 0.258819403792806798405 * g;
}

// ------------------------------------------------------------------ the normal distribution's tails
// erfcx(x) = exp(x^2) erfc(x). x > 50: the continued fraction 1/sqrt(pi) / (x + 1/2/(x + 1/(x + ...))),
// truncated after five levels (1/sqrt(pi) / x above 5e7, where x^2 would overflow); 26 < x <= 50: the
// same fraction to 60 levels; 0 <= x <= 26: exp(hi) (1 + lo) erfc(x) with x^2 = hi + lo exactly (fma),
// so the exponential's argument loses nothing. x < 0: 2 exp(x^2) - erfcx(-x) (inf below -26.7, where
// it overflows).
FLB_HOST_DEVICE double erfcx_nonneg(double x) {
  if (x > 50.0) {
    if (x > 5e7) return kInvSqrtPi / x;
    const double xx = x * x;
    return kInvSqrtPi * (xx * (xx + 4.5) + 2.0) / (x * (xx * (xx + 5.0) + 3.75));
  }
  if (x > 26.0) {
    double d = x;
    for (int k = 60; k >= 1; --k) d = x + 0.5 * k / d;
    return kInvSqrtPi / d;
  }
  const double hi = x * x;
  const double lo = fma(x, x, -hi);
  return exp(hi) * (1.0 + lo) * erfc(x);
}

FLB_HOST_DEVICE double erfcx(double x) {
  if (x != x) return x;
  if (x >= 0) return erfcx_nonneg(x);
  if (x < -26.7) return INFINITY;
  if (x < -6.1) return 2.0 * exp(x * x);
  return 2.0 * exp(x * x) - erfcx_nonneg(-x);
}

// log Phi(x): log(erfcx(-t) / 2) - t^2 below x = -1 (t = x / sqrt 2), else log1p(-erfc(t) / 2).
FLB_HOST_DEVICE double log_ndtr(double x) {
  const double t = x * 0.7071067811865476;
  if (x < -1.0) return log(erfcx(-t) / 2.0) - t * t;
  return log1p(-erfc(t) / 2.0);
}

// Phi^-1(y): -inf at 0, inf at 1, NaN outside [0, 1]. Central part y in (exp(-2), 1 - exp(-2)) by a
// rational function of (y - 1/2)^2; the tails in z = sqrt(-2 log y) as z - log(z)/z - R(1/z), with
// two rational approximations split at z = 8.
FLB_HOST_DEVICE double ndtri(double y0) {
  FLB_TABLE P0[] = {-5.99633501014107895267E1, 9.80010754185999661536E1, -5.66762857469070293439E1,
                    1.39312609387279679503E1, -1.23916583867381258016E0};
  FLB_TABLE Q0[] = {1.00000000000000000000E0,  1.95448858338141759834E0,  4.67627912898881538453E0,
                    8.63602421390890590575E1,  -2.25462687854119370527E2, 2.00260212380060660359E2,
                    -8.20372256168333339912E1, 1.59056225126211695515E1,  -1.18331621121330003142E0};
  FLB_TABLE P1[] = {4.05544892305962419923E0, 3.15251094599893866154E1,  5.71628192246421288162E1,
                    4.40805073893200834700E1, 1.46849561928858024014E1,  2.18663306850790267539E0,
                    -1.40256079171354495875E-1, -3.50424626827848203418E-2, -8.57456785154685413611E-4};
  FLB_TABLE Q1[] = {1.00000000000000000000E0, 1.57799883256466749731E1,  4.53907635128879210584E1,
                    4.13172038254672030440E1, 1.50425385692907503408E1,  2.50464946208309415979E0,
                    -1.42182922854787788574E-1, -3.80806407691578277194E-2, -9.33259480895457427372E-4};
  FLB_TABLE P2[] = {3.23774891776946035970E0, 6.91522889068984211695E0, 3.93881025292474443415E0,
                    1.33303460815807542389E0, 2.01485389549179081538E-1, 1.23716634817820021358E-2,
                    3.01581553508235416007E-4, 2.65806974686737550832E-6, 6.23974539184983293730E-9};
  FLB_TABLE Q2[] = {1.00000000000000000000E0, 6.02427039364742014255E0, 3.67983563856160859403E0,
                    1.37702099489081330271E0, 2.16236993594496635890E-1, 1.34204006088543189037E-2,
                    3.28014464682127739104E-4, 2.89247864745380683936E-6, 6.79019408009981274425E-9};
  constexpr double kExpMinus2 = 0.13533528323661269189;
  if (y0 == 0) return -INFINITY;
  if (y0 == 1) return INFINITY;
  if (!(y0 >= 0 && y0 <= 1)) return NAN;
  bool lower = true;
  double y = y0;
  if (y > 1.0 - kExpMinus2) {
    y = 1.0 - y;
    lower = false;
  }
  if (y > kExpMinus2) {
    y -= 0.5;
    const double y2 = y * y;
    return (y + y * (y2 * horner(y2, P0) / horner(y2, Q0))) * 2.50662827463100050242E0;
  }
  const double z = sqrt(-2.0 * log(y));
  const double head = z - log(z) / z;
  const double w = 1.0 / z;
  const double tail = z < 8.0 ? w * horner(w, P1) / horner(w, Q1) : w * horner(w, P2) / horner(w, Q2);
  const double r = head - tail;
  return lower ? -r : r;
}

// ------------------------------------------------------------------ Hurwitz zeta
// zeta(x, q) = sum_k (k + q)^-x: inf at x = 1 and at q a non-positive integer, NaN for x < 1 and for
// q < 0 with x not an integer. Direct sum until the term is below 2^-53 of the total (at least 9 terms
// and q + N > 9), then the Euler-Maclaurin tail with B_2j / (2j)! (the divisors below).
FLB_HOST_DEVICE double zeta(double x, double q) {
  FLB_TABLE A[] = {12.0,  -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9, 7.47242496e10,
                   -2.950130727918164224e12, 1.1646782814350067249e14, -4.5979787224074726105e15,
                   1.8152105401943546773e17, -7.1661652561756670113e18};
  if (x == 1.0) return INFINITY;
  if (x < 1.0) return NAN;
  if (q <= 0.0) {
    if (q == floor(q)) return INFINITY;
    if (x != floor(x)) return NAN;
  }
  double s = pow(q, -x), a = q, b = 0.0;
  int i = 0;
  while (i < 9 || a <= 9.0) {
    i += 1;
    a += 1.0;
    b = pow(a, -x);
    s += b;
    if (-kMachEp * s < b && b < kMachEp * s) return s;
  }
  const double w = a;
  s += b * w / (x - 1.0);
  s -= 0.5 * b;
  double fac = 1.0, k = 0.0;
  for (int j = 0; j < 12; ++j) {
    fac *= x + k;
    b /= w;
    const double t = fac * b / A[j];
    s = s + t;
    if (fabs(t / s) < kMachEp) return s;
    k += 1.0;
    fac *= x + k;
    b /= w;
    k += 1.0;
  }
  return s;
}

// ------------------------------------------------------------------ regularized incomplete gamma
FLB_HOST_DEVICE double lgamma_positive(double a) {
#ifdef __CUDA_ARCH__
  return lgamma(a);
#else
  int sign;
  return lgamma_r(a, &sign);  // std::lgamma writes the global signgam: a data race under OpenMP
#endif
}

// P(a, x) (upper = false) or Q(a, x) = 1 - P. Edge values: NaN for a < 0, x < 0, NaN operands and
// a = x = 0; P(0, x > 0) = 1, P(a > 0, 0) = 0, P(a, inf) = 1 (finite a), P(inf, finite x) = 0.
// Otherwise the series P = x^a e^-x / Gamma(a) sum_n x^n / (a (a+1) ... (a+n)) where x < a + 1, the
// continued fraction of Q (modified Lentz) elsewhere, each until its term is below float64 precision.
FLB_HOST_DEVICE double igamma(double a, double x, bool upper) {
  if (!(a >= 0 && x >= 0)) return NAN;  // negative or NaN
  double p;
  if (a == 0) {
    if (x == 0) return NAN;
    p = 1.0;
  } else if (x == 0) {
    p = 0.0;
  } else if (isinf(x)) {
    if (isinf(a)) return NAN;
    p = 1.0;
  } else if (isinf(a)) {
    p = 0.0;
  } else {
    const double logpre = a * log(x) - x - lgamma_positive(a);
    if (x < a + 1.0) {
      double term = 1.0 / a, sum = term, ap = a;
      for (int n = 0; n < 100000; ++n) {
        ap += 1.0;
        term *= x / ap;
        sum += term;
        if (fabs(term) < fabs(sum) * 1e-17) break;
      }
      p = sum * exp(logpre);
      return upper ? 1.0 - p : p;
    }
    constexpr double tiny = 1e-300;
    double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
    for (int i = 1; i < 100000; ++i) {
      const double an = -i * (i - a);
      b += 2.0;
      d = an * d + b;
      if (fabs(d) < tiny) d = tiny;
      c = b + an / c;
      if (fabs(c) < tiny) c = tiny;
      d = 1.0 / d;
      const double delta = d * c;
      h *= delta;
      if (fabs(delta - 1.0) < 1e-16) break;
    }
    const double q = exp(logpre) * h;
    return upper ? q : 1.0 - q;
  }
  return upper ? 1.0 - p : p;
}

// ------------------------------------------------------------------ orthogonal polynomials p_n(x)
// Templated on the evaluation type T: float64 always gives the values; float32 operands are also
// evaluated in float (PyTorch's evaluation), whose overflow pattern decides the non-finite results:
// H_100(3) overflows float to inf and then inf - inf = NaN in PyTorch, where a float64 value rounded to
// float32 would be inf (see binary() below).

// a * b - c as one fused multiply-add fma(a, b, -c), as PyTorch's CPU build contracts its recurrences
// (its AVX2/AVX-512 kernels are compiled with FMA; GCC fuses the a * b of `a * b - k * p`). In float:
// without it a product overflows one step earlier and a result PyTorch gives as +-inf (the last step's
// overflow) becomes inf - inf = NaN (the float pass only decides non-finite results, see binary()
// below). In double it gives PyTorch's bits: near a root of a high-degree polynomial the cancellation
// of the plain product differed from PyTorch's in the last ~3 digits (H_126(-3.89): 3e-10 relative).
template <class T>
FLB_HOST_DEVICE T mul_sub(T a, T b, T c) {
  if constexpr (sizeof(T) == 4) return fmaf(a, b, -c);
  else return fma(a, b, -c);
}

// n arrives as a T; PyTorch converts it to int64 with a C cast, which x86 turns into INT64_MIN for
// NaN, inf and out-of-range values (so p_n = 0 there, the n < 0 case): the same here, on every device.
template <class T>
FLB_HOST_DEVICE int64_t degree(T n) {
  if (!(n >= T(-9.2233720368547758e18) && n < T(9.2233720368547758e18))) return INT64_MIN;
  return (int64_t)n;
}

// The three-term recurrence p_{k+1} = 2 s p_k - p_{k-1} shared by the four Chebyshev kinds (p0 = 1,
// p1 given), stopped once a value is NaN (as PyTorch's loops, which return that NaN).
template <class T>
FLB_HOST_DEVICE T chebyshev_recurrence(T s, T p1, int64_t n) {
  T p = T(1), q = p1;
  for (int64_t k = 2; k <= n && q == q; ++k) {
    const T r = mul_sub(s + s, q, p);
    p = q;
    q = r;
  }
  return q;
}

// T_n, U_n, V_n, W_n at s (kind 0..3), with PyTorch's special cases: exact values at s = +-1, and for
// |s| < 1 and n above `trig_from` (6 for T, 8 for the others; the shifted forms 6, and 4 for W) the
// trigonometric forms cos(n t), sin((n+1) t)/sin t, cos((n+1/2) t)/cos(t/2), sin((n+1/2) t)/sin(t/2),
// t = acos s.
template <class T>
FLB_HOST_DEVICE T chebyshev(int kind, T s, int64_t n, int64_t trig_from, bool shifted = false) {
  if (n < 0) return T(0);
  const bool even = n % 2 == 0;
  const T n1 = T(n + 1), n21 = T(n + n + 1);
  if (fabs(s) == T(1)) {
    switch (kind) {
      case 0: return (s > T(0) || even) ? T(1) : T(-1);
      case 1: return (s > T(0) || even) ? n1 : -n1;
      case 2: return s > T(0) ? T(1) : (even ? n21 : -n21);
      default: return s > T(0) ? n21 : (even ? T(1) : T(-1));
    }
  }
  if (n > trig_from && fabs(s) < T(1)) {
    const T t = acos(s);
    switch (kind) {
      case 0: return cos(T(n) * t);
      case 1:
        if (sin(t) != T(0)) return sin(n1 * t) / sin(t);
        return n1 * cos(n1 * t) / s;
      case 2:
        if (sin(t / T(2)) != T(1)) return cos((T(n) + T(0.5)) * t) / cos(t / T(2));
        return even ? n21 : -n21;
      default:
        if (cos(t / T(2)) != T(1)) return sin((T(n) + T(0.5)) * t) / sin(t / T(2));
        return (s > T(0) && !shifted) ? n21 : (even ? T(1) : T(-1));  // the shifted form ignores the sign
    }
  }
  if (n == 0) return T(1);
  const T p1 = kind == 0 ? s : kind == 1 ? s + s : kind == 2 ? s + s - T(1) : s + s + T(1);
  if (n == 1) return p1;
  return chebyshev_recurrence(s, p1, n);
}

// The shifted polynomials T*_n(x) = T_n(2x - 1), ...: their exact values at x = 1 and x = 0 first
// (PyTorch tests x, not 2x - 1; an x that only rounds 2x - 1 to -1 takes the recurrence).
template <class T>
FLB_HOST_DEVICE T shifted_chebyshev(int kind, T x, int64_t n) {
  if (n < 0) return T(0);
  const T s = x + x - T(1);
  if (x == T(1)) return chebyshev(kind, T(1), n, 0);
  if (x == T(0)) {
    const bool even = n % 2 == 0;
    const T n1 = T(n + 1), n21 = T(n + n + 1);
    switch (kind) {
      case 0: return even ? T(1) : T(-1);
      case 1: return even ? n1 : -n1;
      case 2: return even ? n21 : -n21;
      default: return even ? T(1) : T(-1);
    }
  }
  if (fabs(s) == T(1)) {
    if (n == 0) return T(1);
    const T p1 = kind == 0 ? s : kind == 1 ? s + s : kind == 2 ? s + s - T(1) : s + s + T(1);
    return n == 1 ? p1 : chebyshev_recurrence(s, p1, n);
  }
  return chebyshev(kind, s, n, kind == 3 ? 4 : 6, true);
}

// Physicists' H_n (physicists = true) and probabilists' He_n: NaN above degree 128 (float32) or 512
// (float64), as PyTorch; 0 for n < 0.
template <class T>
FLB_HOST_DEVICE T hermite(bool physicists, T x, int64_t n) {
  const int64_t limit = sizeof(T) == 4 ? 128 : 512;
  if (n < 0) return T(0);
  if (n == 0) return T(1);
  if (n == 1) return physicists ? x + x : x;
  if (n > limit) return T(NAN);
  T p = T(1), q = physicists ? x + x : x, r = T(0);
  if (physicists) {
    for (int64_t k = 2; k < n + n; k += 2) {
      r = mul_sub(x + x, q, T(k) * p);
      p = q;
      q = r;
    }
  } else {
    for (int64_t k = 1; k < n; ++k) {
      r = mul_sub(x, q, T(k) * p);
      p = q;
      q = r;
    }
  }
  return r;
}

// L_n(x): 1 at x = 0; (k+1) L_{k+1} = (2k + 1 - x) L_k - k L_{k-1}.
template <class T>
FLB_HOST_DEVICE T laguerre(T x, int64_t n) {
  if (n < 0) return T(0);
  if (fabs(x) == T(0) || n == 0) return T(1);
  T p = T(1), q = T(1) - x;
  for (int64_t k = 1; k < n && q == q; ++k) {
    const T r = mul_sub(T(k + k) + (T(1) - x), q, T(k) * p);
    p = q;
    q = r / T(k + 1);
  }
  return q;
}

// P_n(x): +-1 at x = +-1; (k+1) P_{k+1} = (2k + 1) x P_k - k P_{k-1}.
template <class T>
FLB_HOST_DEVICE T legendre(T x, int64_t n) {
  if (n < 0) return T(0);
  if (fabs(x) == T(1)) return (x > T(0) || n % 2 == 0) ? T(1) : T(-1);
  if (n == 0) return T(1);
  T p = T(1), q = x;
  for (int64_t k = 1; k < n && q == q; ++k) {
    const T r = mul_sub(T(k + k + 1) * x, q, T(k) * p) / T(k + 1);
    p = q;
    q = r;
  }
  return q;
}

// ------------------------------------------------------------------ dispatch by op code
FLB_HOST_DEVICE double unary(UnaryOp op, double x) {
  switch (op) {
    case UnaryOp::BesselJ0: return bessel_j0(x);
    case UnaryOp::BesselJ1: return bessel_j1(x);
    case UnaryOp::BesselY0: return bessel_y0(x);
    case UnaryOp::BesselY1: return bessel_y1(x);
    case UnaryOp::ModifiedBesselI0: case UnaryOp::I0: return modified_bessel_i0(x);
    case UnaryOp::ModifiedBesselI1: return modified_bessel_i1(x);
    case UnaryOp::ModifiedBesselK0: return bessel_k(x, false, false);
    case UnaryOp::ModifiedBesselK1: return bessel_k(x, true, false);
    case UnaryOp::ScaledModifiedBesselK0: return bessel_k(x, false, true);
    case UnaryOp::ScaledModifiedBesselK1: return bessel_k(x, true, true);
    case UnaryOp::SphericalBesselJ0: return spherical_bessel_j0(x);
    case UnaryOp::AiryAi: return airy_ai(x);
    case UnaryOp::Erfcx: return erfcx(x);
    case UnaryOp::LogNdtr: return log_ndtr(x);
    case UnaryOp::Ndtri: return ndtri(x);
    case UnaryOp::I0e: return i0e(x);
    case UnaryOp::I1: return i1(x);
    case UnaryOp::I1e: return i1e(x);
    default: return NAN;  // not reached: the dispatch sends only these ops here
  }
}

FLB_HOST_DEVICE constexpr bool is_special_unary(UnaryOp op) { return op >= UnaryOp::BesselJ0 && op < UnaryOp::Count; }
FLB_HOST_DEVICE constexpr bool is_special_binary(BinaryOp op) { return op >= BinaryOp::Zeta && op <= BinaryOp::LegendreP; }

// p_n(x) for one of the polynomial ops, evaluated in T.
template <class T>
FLB_HOST_DEVICE T polynomial(BinaryOp op, T x, int64_t n) {
  switch (op) {
    case BinaryOp::ChebyshevT: return chebyshev(0, x, n, 6);
    case BinaryOp::ChebyshevU: return chebyshev(1, x, n, 8);
    case BinaryOp::ChebyshevV: return chebyshev(2, x, n, 8);
    case BinaryOp::ChebyshevW: return chebyshev(3, x, n, 8);
    case BinaryOp::ShiftedChebyshevT: return shifted_chebyshev(0, x, n);
    case BinaryOp::ShiftedChebyshevU: return shifted_chebyshev(1, x, n);
    case BinaryOp::ShiftedChebyshevV: return shifted_chebyshev(2, x, n);
    case BinaryOp::ShiftedChebyshevW: return shifted_chebyshev(3, x, n);
    case BinaryOp::HermiteH: return hermite(true, x, n);
    case BinaryOp::HermiteHe: return hermite(false, x, n);
    case BinaryOp::LaguerreL: return laguerre(x, n);
    case BinaryOp::LegendreP: return legendre(x, n);
    default: return T(NAN);  // not reached
  }
}

// (x, y) = (x, q) for zeta, (a, x) for the incomplete gamma functions (in float64, rounded once),
// (x, n) for the polynomials. A float32 polynomial is first evaluated in float, PyTorch's way: where
// that overflows (inf, or the NaN of inf - inf) or hits the float32 Hermite limit, its non-finite
// value is the result, as PyTorch's; elsewhere the float64 evaluation, rounded once (PyTorch's float
// recurrences lose up to ~1e-4 relative near roots; this is within an ulp).
template <class T>
FLB_HOST_DEVICE T binary(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::Zeta: return T(zeta(x, y));
    case BinaryOp::Igamma: return T(igamma(x, y, false));
    case BinaryOp::Igammac: return T(igamma(x, y, true));
    default: break;
  }
  const int64_t n = degree(y);
  const T r = polynomial<T>(op, x, n);
  if (sizeof(T) == 8 || !isfinite(r)) return r;
  return T(polynomial<double>(op, double(x), n));
}

#undef FLB_TABLE

}  // namespace flambeau::special
