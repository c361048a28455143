package console_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/admin"
	"github.com/switchyard-ai/switchyard/shared/catalog"
)

// TestRoutesInTheBrowser: a route's page shows its plan and the last hour's split from the request
// log, saves new weights with a reason as a new version, and rolls back from its history.
func TestRoutesInTheBrowser(t *testing.T) {
	e := newEnv(t)
	e.chatBehindAlias()
	ctx := context.Background()
	e.must(e.svc.CreateModel(ctx, e.super, admin.ModelInput{Name: "acme-chat-v2", Provider: "acme", UpstreamName: "acme-llm-7b", Kind: "chat",
		ContextWindow: 8192, Enabled: true}))
	key, _ := e.team("search", "k", "acme-llm")
	v0 := int64(0)
	e.must(e.svc.PutRoute(ctx, e.super, "acme-llm", admin.RouteInput{ExpectedVersion: &v0, Reason: "half and half",
		Plan: &catalog.Plan{Tiers: []catalog.Tier{{Targets: []catalog.Target{{Model: "acme-chat", Weight: 50}, {Model: "acme-chat-v2", Weight: 50}}}}}}))
	e.refresh()
	served := map[string]int{}
	for i := 0; i < 40; i++ {
		resp, code := e.call(key, "/v1/chat/completions", chatBody)
		if resp.StatusCode != 200 {
			t.Fatalf("chat through the route: %d %s", resp.StatusCode, code)
		}
		served[resp.Header.Get("X-Switchyard-Model")]++
	}
	if err := e.app.Usage.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	b := signedInTab(t, e.srv.URL, superToken)
	b.open("/console/routes")
	b.wants("#route-acme-llm", "acme-llm", "acme-chat", "50%", "acme-chat-v2")
	b.open("/console/routes/acme-llm")
	b.wants("#route-version", "1")
	b.wants("#route-split-total", "40 requests")
	for model, n := range served {
		b.wants(`#route-plan td.split[data-model="`+model+`"]`, "("+strconv.Itoa(n)+")")
	}
	b.wants("#route-history", "half and half", "bootstrap")

	// 90/10 with a reason: version 2.
	b.send("#save-weights", "#w-acme-chat", "90", "#w-acme-chat-v2", "10", "#weights-reason", "v2 answers slower")
	b.notice("Saved the weights of acme-llm")
	b.wants("#route-version", "2")
	b.wants("#route-history", "v2 answers slower", "90%", "10%")
	b.shot("22-route")

	// Weights that do not sum to 100 are refused and nothing changes.
	b.send("#save-weights", "#w-acme-chat", "80")
	b.wants("#page-error", "sum to 100", "90")
	b.open("/console/routes/acme-llm")
	b.wants("#route-version", "2")

	b.send("#route-rollback", "#route-rollback-reason", "back to the even split")
	b.notice("now version 3")
	b.wants("#route-plan", "50%")
	b.wants("#route-history", "back to the even split")

	// A team's share: 5% of team search's requests to v2, then all of them, then back to the plan.
	b.choose("#team-share-team", "search")
	b.choose("#team-share-model", "acme-chat-v2")
	b.send("#save-team-share", "#team-share", "5", "#team-share-reason", "canary: 5% of search")
	b.notice("Team search now sends 5% of its acme-llm requests to acme-chat-v2")
	b.wants("#route-rules", "team search", "teams search", "acme-chat 95%", "acme-chat-v2 5%")
	b.shot("23-route-team-share")
	rt, err := e.svc.GetRoute(ctx, e.super, "acme-llm")
	if err != nil {
		t.Fatal(err)
	}
	if len(rt.Rules) != 1 || len(rt.Rules[0].Plan.Tiers) != 2 || rt.Rules[0].Match.Teams[0] != "search" {
		t.Fatalf("the team form wrote rules %+v; want one rule for team search with a fallback tier", rt.Rules)
	}
	b.send("#save-team-share", "#team-share", "100", "#team-share-reason", "canary clean")
	b.wants("#route-rules", "acme-chat-v2 100%")
	e.refresh()
	for i := 0; i < 10; i++ {
		resp, _ := e.call(key, "/v1/chat/completions", chatBody)
		if got := resp.Header.Get("X-Switchyard-Model"); resp.StatusCode != 200 || got != "acme-chat-v2" {
			t.Fatalf("team search at 100%% was served by %q (%d); want acme-chat-v2", got, resp.StatusCode)
		}
	}
	b.submit("#remove-rule-0")
	b.notice("Removed a rule of acme-llm")
	b.wants("#route-no-rules", "No rules")
}
