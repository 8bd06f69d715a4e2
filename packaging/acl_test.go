package packaging

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// aclLines are an acl_file's pattern and topic lines as "pattern write
// topic", "topic read topic" (with "user NAME" before a user's lines).
func aclLines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("mosquitto/tapagent.acl")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			out = append(out, strings.Join(f, " "))
		}
	}
	return out
}

// TestACLLetsADeviceWriteItsHomeAssistantTopics: with [mqtt]
// homeassistant = true a device publishes retained discovery documents
// (homeassistant/sensor/tapagent_{id}/line{N}_{key}/config) and line
// states ({root}/ha/line/N); the shipped ACL must let it, and only for
// its own id, and give Home Assistant a read-only account.
func TestACLLetsADeviceWriteItsHomeAssistantTopics(t *testing.T) {
	lines := aclLines(t)
	for _, want := range []string{
		"pattern write homeassistant/sensor/tapagent_%u/+/config",
		"pattern write tapagent/v1/%u/ha/line/+",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("the shipped ACL lacks %q", want)
		}
	}
	i := slices.Index(lines, "user homeassistant")
	if i < 0 {
		t.Fatal("no Home Assistant account in the shipped ACL")
	}
	for _, l := range lines[i+1:] {
		if strings.HasPrefix(l, "user ") {
			break
		}
		if !strings.HasPrefix(l, "topic read ") {
			t.Errorf("the Home Assistant account may do more than read: %q", l)
		}
	}
}
