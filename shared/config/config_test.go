package config

import (
	"log/slog"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Environment: Development, TableName: "plainview", Version: "dev", LogLevel: slog.LevelInfo, CORSOrigins: "http://localhost:*, http://127.0.0.1:*"}
	if c != want {
		t.Errorf("defaults = %+v, want %+v", c, want)
	}
}

func TestSettingsAreRead(t *testing.T) {
	c, err := Load(env(map[string]string{
		"ENVIRONMENT": "production", "TABLE_NAME": "pv-prod", "DYNAMODB_ENDPOINT": "http://127.0.0.1:8000",
		"VERSION": "1.2.3", "LOG_LEVEL": "debug", "REQUIRE_KEY_FOR_READS": "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	// Production allows no browser origin unless CORS_ORIGINS lists them.
	want := Config{Environment: Production, TableName: "pv-prod", DynamoDBEndpoint: "http://127.0.0.1:8000", Version: "1.2.3", LogLevel: slog.LevelDebug, RequireKeyForReads: true}
	if c != want {
		t.Errorf("config = %+v, want %+v", c, want)
	}
}

func TestBadValuesAreRefused(t *testing.T) {
	for name, m := range map[string]map[string]string{
		"environment": {"ENVIRONMENT": "staging"},
		"table":       {"TABLE_NAME": "no spaces allowed"},
		"short table": {"TABLE_NAME": "pv"},
		"long table":  {"TABLE_NAME": strings.Repeat("t", 256)},
		"table char":  {"TABLE_NAME": "plainview/prod"},
		"non-ASCII":   {"TABLE_NAME": "plainvïew"},
		"endpoint":    {"DYNAMODB_ENDPOINT": "127.0.0.1:8000"},
		"scheme":      {"DYNAMODB_ENDPOINT": "ftp://x"},
		"log level":   {"LOG_LEVEL": "chatty"},
		"reads":       {"REQUIRE_KEY_FOR_READS": "yes"},
		"version":     {"VERSION": "0123456789012345678901234567890123456789012345678901234567890123456789"},
	} {
		if _, err := Load(env(m)); err == nil {
			t.Errorf("%s: %v accepted", name, m)
		}
	}
}

func TestTableNamesAreDynamoDBs(t *testing.T) {
	for _, name := range []string{"pv.", "Plainview_prod-2.a", strings.Repeat("t", 255)} {
		c, err := Load(env(map[string]string{"TABLE_NAME": name}))
		if err != nil || c.TableName != name {
			t.Errorf("TABLE_NAME %q: %v, %q", name, err, c.TableName)
		}
	}
}

func TestAWSTakesTheSandboxRegionAndCredentials(t *testing.T) {
	env := map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE",
		"AWS_SECRET_ACCESS_KEY": "not-a-real-secret", "AWS_SESSION_TOKEN": "token",
	}
	cfg, err := AWS(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" || creds.AccessKeyID != "ASIAEXAMPLE" || creds.SecretAccessKey != "not-a-real-secret" || creds.SessionToken != "token" {
		t.Errorf("config %q, credentials %+v", cfg.Region, creds)
	}
}

func TestAWSRefusesAnIncompleteSandbox(t *testing.T) {
	full := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "not-a-real-secret"}
	for _, missing := range []string{"AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		_, err := AWS(func(k string) string {
			if k == missing {
				return ""
			}
			return full[k]
		})
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("without %s: %v, want an error naming it", missing, err)
		}
		if err != nil && strings.Contains(err.Error(), "not-a-real-secret") {
			t.Errorf("the error shows the secret key: %v", err)
		}
	}
}
