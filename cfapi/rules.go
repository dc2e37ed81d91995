package cfapi

import (
	"encoding/json"
	"fmt"

	"github.com/cloudflare/cloudflare-go/v7/zero_trust"
)

// rulesToSDK converts our rules into the SDK's AccessRuleUnionParam variants.
func rulesToSDK(rules []Rule) ([]zero_trust.AccessRuleUnionParam, error) {
	out := make([]zero_trust.AccessRuleUnionParam, 0, len(rules))
	for i, r := range rules {
		p, err := ruleToSDK(r)
		if err != nil {
			return nil, fmt.Errorf("rule %d: %w", i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func ruleToSDK(r Rule) (zero_trust.AccessRuleUnionParam, error) {
	needValue := func() error {
		if r.Value == "" {
			return fmt.Errorf("selector %q needs a value", r.Kind)
		}
		return nil
	}
	switch r.Kind {
	case RuleEmail:
		if err := needValue(); err != nil {
			return nil, err
		}
		var p zero_trust.EmailRuleParam
		p.Email.Value.Email.Value, p.Email.Value.Email.Present = r.Value, true
		p.Email.Present = true
		return p, nil
	case RuleEmailDomain:
		if err := needValue(); err != nil {
			return nil, err
		}
		var p zero_trust.DomainRuleParam
		p.EmailDomain.Value.Domain.Value, p.EmailDomain.Value.Domain.Present = r.Value, true
		p.EmailDomain.Present = true
		return p, nil
	case RuleIP:
		if err := needValue(); err != nil {
			return nil, err
		}
		var p zero_trust.IPRuleParam
		p.IP.Value.IP.Value, p.IP.Value.IP.Present = r.Value, true
		p.IP.Present = true
		return p, nil
	case RuleCountry:
		if err := needValue(); err != nil {
			return nil, err
		}
		var p zero_trust.CountryRuleParam
		p.Geo.Value.CountryCode.Value, p.Geo.Value.CountryCode.Present = r.Value, true
		p.Geo.Present = true
		return p, nil
	case RuleEveryone:
		var p zero_trust.EveryoneRuleParam
		p.Everyone.Present = true
		return p, nil
	case RuleServiceToken:
		if err := needValue(); err != nil {
			return nil, err
		}
		var p zero_trust.ServiceTokenRuleParam
		p.ServiceToken.Value.TokenID.Value, p.ServiceToken.Value.TokenID.Present = r.Value, true
		p.ServiceToken.Present = true
		return p, nil
	case RuleAnyValidServiceToken:
		var p zero_trust.AnyValidServiceTokenRuleParam
		p.AnyValidServiceToken.Present = true
		return p, nil
	case RuleGroup:
		if err := needValue(); err != nil {
			return nil, err
		}
		var p zero_trust.GroupRuleParam
		p.Group.Value.ID.Value, p.Group.Value.ID.Present = r.Value, true
		p.Group.Present = true
		return p, nil
	case RuleCertificate:
		var p zero_trust.CertificateRuleParam
		p.Certificate.Present = true
		return p, nil
	case RuleLoginMethod:
		if err := needValue(); err != nil {
			return nil, err
		}
		var p zero_trust.AccessRuleAccessLoginMethodRuleParam
		p.LoginMethod.Value.ID.Value, p.LoginMethod.Value.ID.Present = r.Value, true
		p.LoginMethod.Present = true
		return p, nil
	case "":
		return nil, fmt.Errorf("selector %s is not modelled and cannot be written", string(r.Raw))
	default:
		return nil, fmt.Errorf("unknown selector %q", r.Kind)
	}
}

// rulesFromSDK converts the SDK's AccessRule (one interface{} field per
// selector) into our rules. A selector we do not model keeps only Raw.
func rulesFromSDK(in []zero_trust.AccessRule) []Rule {
	if len(in) == 0 {
		return nil
	}
	out := make([]Rule, 0, len(in))
	for _, r := range in {
		out = append(out, ruleFromSDK(r))
	}
	return out
}

func ruleFromSDK(r zero_trust.AccessRule) Rule {
	rule := Rule{Raw: json.RawMessage(r.JSON.RawJSON())}
	// The SDK fills each selector field with its typed variant (e.g.
	// EmailRuleEmail); the raw rule is the fallback for any other shape.
	fromRaw := func(kind RuleKind, key string) string {
		var m map[string]map[string]any
		_ = json.Unmarshal(rule.Raw, &m)
		s, _ := m[string(kind)][key].(string)
		return s
	}
	// Exactly one selector is set in a valid rule; the order below only
	// matters for malformed input.
	switch {
	case r.Email != nil:
		rule.Kind = RuleEmail
		if v, ok := r.Email.(zero_trust.EmailRuleEmail); ok {
			rule.Value = v.Email
		} else {
			rule.Value = fromRaw(RuleEmail, "email")
		}
	case r.EmailDomain != nil:
		rule.Kind = RuleEmailDomain
		if v, ok := r.EmailDomain.(zero_trust.DomainRuleEmailDomain); ok {
			rule.Value = v.Domain
		} else {
			rule.Value = fromRaw(RuleEmailDomain, "domain")
		}
	case r.IP != nil:
		rule.Kind = RuleIP
		if v, ok := r.IP.(zero_trust.IPRuleIP); ok {
			rule.Value = v.IP
		} else {
			rule.Value = fromRaw(RuleIP, "ip")
		}
	case r.Geo != nil:
		rule.Kind = RuleCountry
		if v, ok := r.Geo.(zero_trust.CountryRuleGeo); ok {
			rule.Value = v.CountryCode
		} else {
			rule.Value = fromRaw(RuleCountry, "country_code")
		}
	case r.Everyone != nil:
		rule.Kind = RuleEveryone
	case r.ServiceToken != nil:
		rule.Kind = RuleServiceToken
		if v, ok := r.ServiceToken.(zero_trust.ServiceTokenRuleServiceToken); ok {
			rule.Value = v.TokenID
		} else {
			rule.Value = fromRaw(RuleServiceToken, "token_id")
		}
	case r.AnyValidServiceToken != nil:
		rule.Kind = RuleAnyValidServiceToken
	case r.Group != nil:
		rule.Kind = RuleGroup
		if v, ok := r.Group.(zero_trust.GroupRuleGroup); ok {
			rule.Value = v.ID
		} else {
			rule.Value = fromRaw(RuleGroup, "id")
		}
	case r.Certificate != nil:
		rule.Kind = RuleCertificate
	case r.LoginMethod != nil:
		rule.Kind = RuleLoginMethod
		if v, ok := r.LoginMethod.(zero_trust.AccessRuleAccessLoginMethodRuleLoginMethod); ok {
			rule.Value = v.ID
		} else {
			rule.Value = fromRaw(RuleLoginMethod, "id")
		}
	}
	return rule
}
