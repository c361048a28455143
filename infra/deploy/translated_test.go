package deploy

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestAPIHasOneThrottledStage checks the translated template deploys the API to one stage, the one
// whose MethodSettings throttle. Without an OpenApiVersion the SAM translator also gives the
// Deployment StageName "Stage": a second, unthrottled stage at .../Stage/ that serves the same routes.
func TestAPIHasOneThrottledStage(t *testing.T) {
	cfn := translate(t)
	var stages []string
	for id, r := range cfn.Resources {
		switch r.Type {
		case "AWS::ApiGateway::Stage":
			stages = append(stages, id)
			var p struct {
				StageName      json.RawMessage
				MethodSettings []struct {
					ResourcePath         string
					HttpMethod           string
					ThrottlingBurstLimit int
					ThrottlingRateLimit  float64
				}
			}
			if err := json.Unmarshal(r.Properties, &p); err != nil {
				t.Fatal(err)
			}
			if compact(p.StageName) != `{"Ref":"StageName"}` {
				t.Errorf("stage %s is named %s, want the StageName parameter", id, p.StageName)
			}
			throttled := slices.ContainsFunc(p.MethodSettings, func(m struct {
				ResourcePath         string
				HttpMethod           string
				ThrottlingBurstLimit int
				ThrottlingRateLimit  float64
			}) bool {
				return m.ResourcePath == "/*" && m.HttpMethod == "*" && m.ThrottlingBurstLimit > 0 && m.ThrottlingRateLimit > 0
			})
			if !throttled {
				t.Errorf("stage %s has no throttling for every method (MethodSettings %+v)", id, p.MethodSettings)
			}
		case "AWS::ApiGateway::Deployment":
			var p struct{ StageName any }
			if err := json.Unmarshal(r.Properties, &p); err != nil {
				t.Fatal(err)
			}
			if p.StageName != nil {
				t.Errorf("deployment %s creates stage %v, which no throttling applies to (set Globals.Api.OpenApiVersion)", id, p.StageName)
			}
		}
	}
	if len(stages) != 1 {
		t.Errorf("translated template has stages %v, want exactly one", stages)
	}
}

// TestFunctionsMayDecryptACustomerManagedDatabaseSecret checks that every function that reads the
// database secret may also decrypt it when it is encrypted with a customer-managed key
// (DatabaseSecretKmsKeyArn), and only then, through Secrets Manager.
func TestFunctionsMayDecryptACustomerManagedDatabaseSecret(t *testing.T) {
	cfn := translate(t)
	if _, ok := cfn.Conditions["UseSecretKmsKey"]; !ok {
		t.Fatal("no UseSecretKmsKey condition")
	}
	readers := 0
	for id, r := range cfn.Resources {
		if r.Type != "AWS::IAM::Role" {
			continue
		}
		var p struct {
			Policies []struct {
				PolicyDocument struct{ Statement []json.RawMessage }
			}
		}
		if err := json.Unmarshal(r.Properties, &p); err != nil {
			t.Fatal(err)
		}
		reads, decrypts := false, false
		for _, pol := range p.Policies {
			for _, st := range pol.PolicyDocument.Statement {
				cond, stmt := conditional(st)
				switch stmt.Sid {
				case "ReadDatabaseSecret":
					reads = true
				case "DecryptDatabaseSecret":
					decrypts = true
					if cond != "UseSecretKmsKey" {
						t.Errorf("%s: DecryptDatabaseSecret applies under condition %q, want UseSecretKmsKey", id, cond)
					}
					if stmt.Action != `"kms:Decrypt"` || stmt.Resource != `{"Ref":"DatabaseSecretKmsKeyArn"}` {
						t.Errorf("%s: DecryptDatabaseSecret allows %s on %s, want kms:Decrypt on DatabaseSecretKmsKeyArn", id, stmt.Action, stmt.Resource)
					}
					if !strings.Contains(stmt.Condition, "kms:ViaService") {
						t.Errorf("%s: DecryptDatabaseSecret is not limited to Secrets Manager (kms:ViaService): %s", id, stmt.Condition)
					}
				}
			}
		}
		if reads {
			readers++
			if !decrypts {
				t.Errorf("%s reads the database secret but may not decrypt it with DatabaseSecretKmsKeyArn", id)
			}
		}
	}
	if readers != len(Functions) {
		t.Errorf("%d roles read the database secret, want %d (every function)", readers, len(Functions))
	}
}

type statement struct {
	Sid                         string
	Action, Resource, Condition string
}

// conditional unwraps {"Fn::If": [cond, stmt, NoValue]} into the condition's name and the statement.
func conditional(raw json.RawMessage) (string, statement) {
	var wrapped struct {
		If []json.RawMessage `json:"Fn::If"`
	}
	cond := ""
	if json.Unmarshal(raw, &wrapped) == nil && len(wrapped.If) == 3 {
		_ = json.Unmarshal(wrapped.If[0], &cond)
		raw = wrapped.If[1]
	}
	var s struct {
		Sid                         string
		Action, Resource, Condition json.RawMessage
	}
	_ = json.Unmarshal(raw, &s)
	return cond, statement{Sid: s.Sid, Action: compact(s.Action), Resource: compact(s.Resource), Condition: compact(s.Condition)}
}

// compact is raw JSON without insignificant space, for comparing with a literal.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
