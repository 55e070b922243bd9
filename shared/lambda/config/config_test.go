package config

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
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

// A function's clients follow the SDK's standard endpoint settings, as a
// script's (config.LoadDefaultConfig) do: the general one, then one
// service's own, which wins for that service.
func TestAWSHonoursTheStandardEndpointSettings(t *testing.T) {
	env := map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "not-a-real-secret",
		"AWS_ENDPOINT_URL":                "http://127.0.0.1:4566",
		"AWS_ENDPOINT_URL_IOT_DATA_PLANE": "http://127.0.0.1:5000",
	}
	cfg, err := AWS(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(sns.NewFromConfig(cfg).Options().BaseEndpoint); got != "http://127.0.0.1:4566" {
		t.Errorf("SNS endpoint = %q, want the general one", got)
	}
	if got := aws.ToString(iotdataplane.NewFromConfig(cfg).Options().BaseEndpoint); got != "http://127.0.0.1:5000" {
		t.Errorf("IoT data plane endpoint = %q, want its own", got)
	}

	env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true"
	if cfg, err = AWS(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]*string{
		"SNS":            sns.NewFromConfig(cfg).Options().BaseEndpoint,
		"IoT data plane": iotdataplane.NewFromConfig(cfg).Options().BaseEndpoint,
	} {
		if got != nil {
			t.Errorf("ignoring configured endpoints, %s endpoint = %q, want AWS's", name, *got)
		}
	}
}

func TestAWSWithoutEndpointSettingsCallsAWS(t *testing.T) {
	env := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "not-a-real-secret"}
	cfg, err := AWS(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got := secretsmanager.NewFromConfig(cfg).Options().BaseEndpoint; got != nil {
		t.Errorf("Secrets Manager endpoint = %q, want AWS's own", *got)
	}
}

func TestAWSRefusesBadEndpointSettings(t *testing.T) {
	for name, value := range map[string]string{
		"AWS_ENDPOINT_URL":                    "127.0.0.1:4566", // no scheme
		"AWS_ENDPOINT_URL_SECRETS_MANAGER":    "ftp://127.0.0.1",
		"AWS_ENDPOINT_URL_DYNAMODB":           "http://",
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "yes",
	} {
		env := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "not-a-real-secret", name: value}
		_, err := AWS(func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: %v, want an error naming it", name, value, err)
		}
	}
}

func TestEndpointVariable(t *testing.T) {
	for id, want := range map[string]string{
		"DynamoDB": "AWS_ENDPOINT_URL_DYNAMODB", "Secrets Manager": "AWS_ENDPOINT_URL_SECRETS_MANAGER",
		"IoT Data Plane": "AWS_ENDPOINT_URL_IOT_DATA_PLANE", "SQS": "AWS_ENDPOINT_URL_SQS",
	} {
		if got := EndpointVariable(id); got != want {
			t.Errorf("EndpointVariable(%q) = %q, want %q", id, got, want)
		}
	}
}
