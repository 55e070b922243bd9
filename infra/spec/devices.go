package spec

// The names of the device registry's parts in AWS IoT, per environment:
// the CDK stack creates them and scripts/provision registers devices
// under them, so both take them from here. IoT policy and thing type
// names are per account and region, so the environment is in each and
// development and production can share an account.

// DevicePolicyName is the IoT policy every device certificate gets.
func DevicePolicyName(environment string) string {
	return "plainview-" + environment + "-device"
}

// ThingTypeName is the thing type of every Plainview device.
func ThingTypeName(environment string) string {
	return "plainview-" + environment + "-device"
}

// The thing attributes provisioning sets from the inventory
// (shared/core/domain.Device), which the thing type makes searchable: find
// every gauge, or the device of an asset, in the registry. A thing type
// takes at most three.
const (
	ThingAttrKind  = "kind"
	ThingAttrAsset = "asset"
)

// ThingSearchableAttributes are the thing type's searchable attributes.
func ThingSearchableAttributes() []string {
	return []string{ThingAttrKind, ThingAttrAsset}
}
