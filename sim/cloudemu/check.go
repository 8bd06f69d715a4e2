package cloudemu

import (
	"encoding/json"
	"fmt"
)

// CheckReply is the fuzz targets' oracle for an emulator's reply: never a
// 5xx, a body that is empty or JSON, and a 4xx that is an object carrying
// errorField (the cloud's own error message key). Bad input must be
// refused with the cloud's error, never crash or answer garbage.
func CheckReply(status int, body []byte, errorField string) error {
	if status >= 500 {
		return fmt.Errorf("%d %s", status, body)
	}
	if len(body) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("reply not JSON: %q", body)
	}
	if status >= 400 {
		if m, ok := v.(map[string]any); !ok || m[errorField] == nil {
			return fmt.Errorf("error without %s: %s", errorField, body)
		}
	}
	return nil
}
