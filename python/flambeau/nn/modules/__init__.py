"""The module classes of flambeau.nn (each file one family)."""
from .module import Module, RemovableHandle  # noqa: F401
from .container import Container, Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict
from .linear import Identity, Linear, Bilinear
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from .pooling import (MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool1d,
                      AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, MaxUnpool1d,
                      MaxUnpool2d, LPPool1d, LPPool2d)
from .activation import (Threshold, ReLU, RReLU, Hardtanh, ReLU6, Sigmoid, Hardsigmoid, Tanh, SiLU,
                         Mish, Hardswish, ELU, CELU, SELU, GLU, GELU, Hardshrink, LeakyReLU,
                         LogSigmoid, Softplus, Softshrink, PReLU, Softsign, Tanhshrink, Softmin,
                         Softmax, Softmax2d, LogSoftmax)
from .normalization import (BatchNorm1d, BatchNorm2d, BatchNorm3d, InstanceNorm1d, InstanceNorm2d,
                            LayerNorm, GroupNorm, RMSNorm, LocalResponseNorm)
from .dropout import Dropout, Dropout1d, Dropout2d, Dropout3d, AlphaDropout, FeatureAlphaDropout
from .sparse import Embedding, EmbeddingBag
from .flatten import Flatten, Unflatten
from .distance import PairwiseDistance, CosineSimilarity
from .padding import (ZeroPad1d, ZeroPad2d, ConstantPad1d, ConstantPad2d, ReflectionPad1d,
                      ReflectionPad2d, ReplicationPad1d, ReplicationPad2d, CircularPad1d,
                      CircularPad2d)
from .pixelshuffle import (PixelShuffle, PixelUnshuffle, Upsample, UpsamplingNearest2d,
                           UpsamplingBilinear2d, Fold, Unfold)
from .channelshuffle import ChannelShuffle
from .lazy import (LazyLinear, LazyConv1d, LazyConv2d, LazyConvTranspose1d,
                   LazyConvTranspose2d, LazyBatchNorm1d, LazyBatchNorm2d, LazyInstanceNorm1d,
                   LazyInstanceNorm2d)
# the volumetric (3-D) layers
from .conv import Conv3d, ConvTranspose3d
from .pooling import (MaxPool3d, AvgPool3d, AdaptiveAvgPool3d, AdaptiveMaxPool3d, MaxUnpool3d,
                      LPPool3d)
from .normalization import InstanceNorm3d
from .padding import ZeroPad3d, ConstantPad3d, ReflectionPad3d, ReplicationPad3d, CircularPad3d
from .lazy import LazyConv3d, LazyConvTranspose3d, LazyBatchNorm3d, LazyInstanceNorm3d
from .rnn import RNNBase, RNN, LSTM, GRU, RNNCellBase, RNNCell, LSTMCell, GRUCell
from .transformer import (MultiheadAttention, TransformerEncoderLayer, TransformerEncoder,
                          TransformerDecoderLayer, TransformerDecoder, Transformer)
from .batchnorm import SyncBatchNorm
from .fractional_pooling import FractionalMaxPool2d, FractionalMaxPool3d
from .loss import (L1Loss, NLLLoss, PoissonNLLLoss, GaussianNLLLoss, KLDivLoss, MSELoss, BCELoss,
                   BCEWithLogitsLoss, HingeEmbeddingLoss, MultiLabelMarginLoss, SmoothL1Loss,
                   HuberLoss, SoftMarginLoss, CrossEntropyLoss, MultiLabelSoftMarginLoss,
                   CosineEmbeddingLoss, MarginRankingLoss, MultiMarginLoss, TripletMarginLoss,
                   TripletMarginWithDistanceLoss, CTCLoss, NLLLoss2d)
from .adaptive import AdaptiveLogSoftmaxWithLoss
from ._cross_map_lrn import CrossMapLRN2d
from .linear_cross_entropy import LinearCrossEntropyLoss
from .linear_cross_entropy_options import LinearCrossEntropyOptions

from . import (module as _m, container as _c, linear as _l, conv as _cv, pooling as _p,  # noqa: E402
               activation as _a, normalization as _n, dropout as _d, sparse as _s, flatten as _f,
               distance as _ds, padding as _pd, loss as _ls, pixelshuffle as _ps, transformer as _t,
               rnn as _r, channelshuffle as _chs, lazy as _lz, adaptive as _ad, batchnorm as _bn,
               fractional_pooling as _fp, _cross_map_lrn as _cml, linear_cross_entropy as _lce,
               linear_cross_entropy_options as _lceo)

__all__ = [name for mod in (_m, _c, _l, _cv, _p, _a, _n, _d, _s, _f, _ds, _pd, _ls, _ps, _t, _r,
                            _chs, _lz, _ad, _bn, _fp, _cml, _lce, _lceo)
           for name in mod.__all__]
