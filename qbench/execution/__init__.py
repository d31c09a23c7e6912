"""Running one point: validation, resources (cores, threads, memory, GPU slots), the timing
protocol, verification, isolated workers and the fork server that starts them loaded."""
