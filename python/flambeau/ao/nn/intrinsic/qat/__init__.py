"""Fused QAT modules (torch.ao.nn.intrinsic.qat): LinearReLU and ConvReLU2d. (ConvBn2d / ConvBnReLU2d, which
fold BatchNorm statistics into the weight during training, are not implemented by flambeau.)"""
from flambeau.nn import functional as F
from flambeau.ao.nn.qat import modules as _qat


class LinearReLU(_qat.Linear):
    def forward(self, input):
        return F.relu(F.linear(input, self.weight_fake_quant(self.weight), self.bias))


class ConvReLU2d(_qat.Conv2d):
    def forward(self, input):
        return F.relu(self._conv_forward(input, self.weight_fake_quant(self.weight), self.bias))
