package domain

import "time"

// Reading is one telemetry message of a device: the values it reported at
// one time. ID is derived from the message, so a message delivered twice
// is stored once.
type Reading struct {
	ID     string             `json:"id"`
	Device string             `json:"device"`
	Asset  string             `json:"asset"`
	At     time.Time          `json:"at"`
	Values map[string]float64 `json:"values"`
}

// DeadLetter is a device message that could not be ingested, kept with the
// reason so it can be looked at and redriven after a fix.
type DeadLetter struct {
	ID         string    `json:"id"`
	Reason     string    `json:"reason"`
	Topic      string    `json:"topic"`
	ClientID   string    `json:"client_id"`
	Payload    string    `json:"payload"` // base64, as the rule delivered it
	ReceivedMs int64     `json:"received_ms"`
	At         time.Time `json:"at"`
	Redriven   bool      `json:"redriven"`
}
