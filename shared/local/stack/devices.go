package stack

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/plainview/serverless/shared/core/domain"
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
// the tokens already in path, and writes the file back when it changed.
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
	if bytes.Equal(out, b) {
		return f.Devices, nil
	}
	if err := writeFileAtomic(path, out); err != nil {
		return nil, fmt.Errorf("devices file: %w", err)
	}
	return f.Devices, nil
}

// deviceRegistry is the broker's copy of the inventory's devices with
// their tokens. The inventory lives in the table and changes through the
// admin routes, each change with its inventory.changed event; the registry
// reads the whole inventory once at start (sync) and then follows those
// events (follow), as IoT Core learns of a thing when the provisioning
// command registers it: a new valve's device gets its token, in the
// devices file too, and a retired one is refused from then on. Following
// reads what changed, not the fleet: at 3,000 devices a rescan every 2 s
// took 7-23 % of a core while idle (issue 17).
type deviceRegistry struct {
	inventory interface {
		Devices(ctx context.Context) ([]domain.Device, error)
		Device(ctx context.Context, id string) (domain.Device, error)
		EventsSince(ctx context.Context, f domain.EventFilter, cursor string, limit int) ([]domain.Event, string, error)
		EventCursor(f domain.EventFilter, eventID string) (string, error)
	}
	path string
	now  func() time.Time

	mu     sync.RWMutex
	logins map[string]DeviceLogin
	after  string // the id of the last inventory event applied
}

// followLookback is how far back each follow reads again: an event's id
// is its writer's clock, so one committed a moment late may sort before
// the last one applied. Applying an event twice changes nothing.
const followLookback = 10 * time.Second

// sync reads the inventory and gives every device its token.
func (r *deviceRegistry) sync(ctx context.Context) ([]DeviceLogin, error) {
	started := r.now()
	devices, err := r.inventory.Devices(ctx)
	if err != nil {
		return nil, fmt.Errorf("device inventory: %w", err)
	}
	logins, err := r.set(ctx, devices)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.after = domain.IDAt("evt", started.Add(-followLookback))
	r.mu.Unlock()
	return logins, nil
}

// set makes devices the registry's, each with its token (kept, or new),
// in the devices file too.
func (r *deviceRegistry) set(ctx context.Context, devices []domain.Device) ([]DeviceLogin, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	logins, err := loadOrCreateDevices(ctx, r.path, devices)
	if err != nil {
		return nil, err
	}
	r.logins = make(map[string]DeviceLogin, len(logins))
	for _, d := range logins {
		r.logins[d.ID] = d
	}
	return logins, nil
}

// follow applies the inventory events since the last follow: each names
// the valve or section (its device's id) to read again. It answers the
// logins when something changed, nil when nothing did.
func (r *deviceRegistry) follow(ctx context.Context) ([]DeviceLogin, error) {
	f := domain.EventFilter{Type: domain.EventInventoryChanged}
	r.mu.RLock()
	after := r.after
	r.mu.RUnlock()
	from := min(after, domain.IDAt("evt", r.now().Add(-followLookback)))
	cursor, err := r.inventory.EventCursor(f, from)
	if err != nil {
		return nil, err
	}
	changed := map[string]bool{}
	last := after
	for {
		events, next, err := r.inventory.EventsSince(ctx, f, cursor, 100)
		if err != nil {
			return nil, fmt.Errorf("inventory events: %w", err)
		}
		for _, e := range events {
			changed[e.Asset] = true
			last = max(last, e.ID)
		}
		if len(events) < 100 {
			break
		}
		cursor = next
	}
	r.mu.Lock()
	r.after = max(r.after, last)
	r.mu.Unlock()
	if len(changed) == 0 {
		return nil, nil
	}
	r.mu.RLock()
	devices := make(map[string]domain.Device, len(r.logins))
	for id, l := range r.logins {
		devices[id] = l.Device
	}
	r.mu.RUnlock()
	differs := false
	for id := range changed {
		d, err := r.inventory.Device(ctx, id)
		switch {
		case errors.Is(err, domain.ErrNotFound):
			_, had := devices[id]
			differs = differs || had
			delete(devices, id)
		case err != nil:
			return nil, fmt.Errorf("device %s: %w", id, err)
		default:
			differs = differs || devices[id] != d
			devices[id] = d
		}
	}
	if !differs {
		return nil, nil
	}
	return r.set(ctx, slices.SortedFunc(maps.Values(devices), func(a, b domain.Device) int { return strings.Compare(a.ID, b.ID) }))
}

// device is the login of a device in the inventory.
func (r *deviceRegistry) device(id string) (DeviceLogin, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.logins[id]
	return d, ok
}

// login checks a device's login in constant time.
func (r *deviceRegistry) login(clientID, user, pass []byte) (DeviceLogin, bool) {
	d, ok := r.device(string(user))
	if !ok || string(clientID) != d.ID {
		// A device connects with its own id, as IoT Core's policy
		// variable ${iot:Connection.Thing.ThingName} demands.
		return DeviceLogin{}, false
	}
	return d, subtle.ConstantTimeCompare(pass, []byte(d.Token)) == 1
}

// writeFileAtomic replaces path with b: a reader sees the old file or the
// new one, never half of one, and a crash leaves one of the two.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone already after a successful rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
