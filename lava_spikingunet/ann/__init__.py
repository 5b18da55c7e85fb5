"""The float (ANN) U-Net that every later stage starts from."""
