"""The Qt shell: shows the core's state and sends it commands; computes nothing itself."""
