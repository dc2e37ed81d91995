package actors

import (
	"testing"

	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/store"
)

// The tests of the tree read it through Main's read API, as the HTTP
// surface (package surface) does.

// report asks the registry for its view.
func (p *pipeline) report() (RegistryReport, error) {
	res, err := p.main.Ask(p.t.Context(), ChildRegistry, messages.QueryRegistry{})
	if err != nil {
		return RegistryReport{}, err
	}
	return res.(RegistryReport), nil
}

// hostnameStates are the registry's hostnames.
func (p *pipeline) hostnameStates() []messages.HostnameState {
	p.t.Helper()
	rep, err := p.report()
	if err != nil {
		p.t.Fatal(err)
	}
	return rep.Hostnames
}

// agents asks the agent directory for every agent it knows.
func (p *pipeline) agents() []AgentState {
	p.t.Helper()
	res, err := p.main.Ask(p.t.Context(), ChildAgents, messages.QueryAgents{})
	if err != nil {
		p.t.Fatal(err)
	}
	return res.([]AgentState)
}

// agentAction sends messages.DecommissionAgent or messages.EnableAgent and returns the
// directory's answer.
func (p *pipeline) agentAction(msg any) error {
	res, err := p.main.Ask(p.t.Context(), ChildAgents, msg)
	if err != nil {
		return err
	}
	if e, ok := res.(error); ok {
		return e
	}
	return nil
}

// events reads the store's event log.
func (p *pipeline) events(t *testing.T, q store.EventQuery) []store.Event {
	t.Helper()
	res, err := p.main.Ask(t.Context(), ChildStore, StoreQueryEvents{Query: q})
	if err != nil {
		t.Fatal(err)
	}
	page := res.(StoreEventsPage)
	if page.Err != nil {
		t.Fatal(page.Err)
	}
	return page.Events
}

// labelErrors counts the label errors as the dashboard does (a source's
// closing entry counts what it does not list) and lists the messages of
// those listed.
func (p *pipeline) labelErrors() (count int, listed []string, err error) {
	rep, err := p.report()
	if err != nil {
		return 0, nil, err
	}
	for _, r := range rep.LabelErrors {
		if r.Container == "" {
			count += r.Dropped
		} else {
			count += len(r.Errors)
		}
		for _, e := range r.Errors {
			listed = append(listed, e.Message)
		}
	}
	return count, listed, nil
}
