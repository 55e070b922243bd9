//go:build !race

package main

// raceDetector is whether this test binary runs with the race detector.
const raceDetector = false
