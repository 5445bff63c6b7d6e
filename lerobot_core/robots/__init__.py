"""Motor buses (Feetech, Dynamixel), calibration, unit conversions, SO-100/SO-101/Koch robots, URDF kinematics.

Submodules are imported on demand so that, e.g., the URDF tools work without pyserial.
"""
