"""Library code the kernel keeps in lib/, mirrored."""
