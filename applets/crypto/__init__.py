"""Pure purse cryptography (JR/T 0025 EP/ED, project SM4 variant); see :mod:`applets.crypto.pboc`."""
