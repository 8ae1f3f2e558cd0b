"""The local cloud: the emulator's AWS APIs (moto with the project's corrections) plus data
planes that run what AWS would run. Started by scripts/local-cloud.sh; see main.py."""
