package inventory

import "github.com/plainview/serverless/shared/core/domain"

// ValveRecord is a valve as the inventory holds it, with the version a
// change must name.
type ValveRecord struct {
	domain.Valve
	Version int
}

// SectionRecord is a section as the inventory holds it, with its version.
type SectionRecord struct {
	domain.Section
	Version int
}
