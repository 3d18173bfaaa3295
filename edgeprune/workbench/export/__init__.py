"""Export: TFLite conversion and the verified bundle."""
