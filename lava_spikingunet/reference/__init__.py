"""The bit-exact PyTorch integer reference of a quantized Spiking-UNet."""
