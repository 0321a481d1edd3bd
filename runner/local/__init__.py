"""The local stack: emulator processes, the local Vertex AI server, simulated Claude, faults."""
