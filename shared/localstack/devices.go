package localstack

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/plainview/serverless/shared/domain"
)

// DeviceLogin is a device of the inventory with its local token: where AWS
// authenticates a device by its certificate, the local broker takes its
// id as username and the token as password.
type DeviceLogin struct {
	domain.Device
	Token string `json:"token"`
}

// devicesFile is the local inventory's logins, for the simulator and any
// device client (mode 0600, in the git-ignored data folder).
type devicesFile struct {
	Devices []DeviceLogin `json:"devices"`
}

// loadOrCreateDevices gives every device of the inventory a token, keeping
// the tokens already in path, and writes the file back.
func loadOrCreateDevices(ctx context.Context, path string, inventory []domain.Device) ([]DeviceLogin, error) {
	known := map[string]string{}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var f devicesFile
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("devices file %s is damaged (%v); delete it to make new tokens", path, err)
		}
		for _, d := range f.Devices {
			known[d.ID] = d.Token
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("devices file: %w", err)
	}
	var f devicesFile
	for _, d := range inventory {
		tok := known[d.ID]
		if tok == "" {
			tok = rand.Text()
		}
		f.Devices = append(f.Devices, DeviceLogin{Device: d, Token: tok})
	}
	out, _ := json.MarshalIndent(f, "", "  ")
	if err := writeFileAtomic(path, out); err != nil {
		return nil, fmt.Errorf("devices file: %w", err)
	}
	return f.Devices, nil
}

// deviceRights is what the IoT policy grants a device: it connects with
// its own id, publishes only on its own topics and plainview/leaks, and
// subscribes only to its own command topic.
func deviceRights(d domain.Device, topic string, write bool) bool {
	if !write {
		return d.Kind == domain.DeviceValve && topic == "valves/"+d.ID+"/command"
	}
	switch topic {
	case "plainview/leaks", "plainview/devices/" + d.ID + "/telemetry":
		return true
	case "valves/" + d.ID + "/status":
		return d.Kind == domain.DeviceValve
	case "pipeline/pressure/" + d.Asset:
		return d.Kind == domain.DeviceGauge
	}
	return false
}

// deviceAuth checks a device's login in constant time.
type deviceAuth map[string]DeviceLogin

func (a deviceAuth) login(clientID, user, pass []byte) (DeviceLogin, bool) {
	d, ok := a[string(user)]
	if !ok || string(clientID) != d.ID {
		// A device connects with its own id, as IoT Core's policy
		// variable ${iot:Connection.Thing.ThingName} demands.
		return DeviceLogin{}, false
	}
	return d, subtle.ConstantTimeCompare(pass, []byte(d.Token)) == 1
}
