import NeoTensor
