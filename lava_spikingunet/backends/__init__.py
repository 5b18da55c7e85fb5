"""Execution backends for the integer Spiking-UNet (see :mod:`.lava`)."""
