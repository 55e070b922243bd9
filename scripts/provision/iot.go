package main

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/plainview/serverless/infra/spec"
	"github.com/plainview/serverless/shared/core/domain"
)

// IoTAPI is the part of the AWS IoT control plane provisioning uses;
// *iot.Client has it.
type IoTAPI interface {
	DescribeEndpoint(context.Context, *iot.DescribeEndpointInput, ...func(*iot.Options)) (*iot.DescribeEndpointOutput, error)
	DescribeThing(context.Context, *iot.DescribeThingInput, ...func(*iot.Options)) (*iot.DescribeThingOutput, error)
	CreateThing(context.Context, *iot.CreateThingInput, ...func(*iot.Options)) (*iot.CreateThingOutput, error)
	ListThingPrincipals(context.Context, *iot.ListThingPrincipalsInput, ...func(*iot.Options)) (*iot.ListThingPrincipalsOutput, error)
	CreateKeysAndCertificate(context.Context, *iot.CreateKeysAndCertificateInput, ...func(*iot.Options)) (*iot.CreateKeysAndCertificateOutput, error)
	AttachPolicy(context.Context, *iot.AttachPolicyInput, ...func(*iot.Options)) (*iot.AttachPolicyOutput, error)
	AttachThingPrincipal(context.Context, *iot.AttachThingPrincipalInput, ...func(*iot.Options)) (*iot.AttachThingPrincipalOutput, error)
	DetachPolicy(context.Context, *iot.DetachPolicyInput, ...func(*iot.Options)) (*iot.DetachPolicyOutput, error)
	UpdateCertificate(context.Context, *iot.UpdateCertificateInput, ...func(*iot.Options)) (*iot.UpdateCertificateOutput, error)
	DeleteCertificate(context.Context, *iot.DeleteCertificateInput, ...func(*iot.Options)) (*iot.DeleteCertificateOutput, error)
}

// endpointType is the data endpoint devices connect to: the one served
// with an Amazon Trust Services certificate (Amazon Root CA 1), which AWS
// recommends over the legacy Symantec-signed one.
const endpointType = "iot:Data-ATS"

// Request is one device to register.
type Request struct {
	Device    domain.Device // from the inventory; its id is the thing name
	ThingType string
	Policy    string
}

// Result is what a registration made, for the files and the report.
type Result struct {
	Endpoint     string // the account's iot:Data-ATS host name
	ThingArn     string
	ThingCreated bool // false: the thing existed and is reused
	// Earlier principals (certificate ARNs) the thing already had; they
	// stay valid until someone revokes them.
	EarlierPrincipals []string
	CertificateID     string
	CertificateArn    string
	CertificatePEM    string
	PrivateKeyPEM     string
}

// Provisioner registers devices with AWS IoT Core.
type Provisioner struct {
	iot IoTAPI
}

// NewProvisioner returns a provisioner over an IoT client.
func NewProvisioner(c IoTAPI) *Provisioner { return &Provisioner{iot: c} }

// Provision makes r.Device a thing of r.ThingType (or reuses the thing of
// that name), creates a new active certificate with its key pair, and
// attaches the device policy and the thing to it.
//
// The thing is reused because a re-run must not fail on it; a certificate
// is always new, because AWS hands out a private key once, at creation.
// If attaching fails, the new certificate is detached, deactivated and
// deleted again, so a failed run leaves no active certificate whose key
// nobody has.
func (p *Provisioner) Provision(ctx context.Context, r Request) (Result, error) {
	var res Result
	ep, err := p.iot.DescribeEndpoint(ctx, &iot.DescribeEndpointInput{EndpointType: aws.String(endpointType)})
	if err != nil {
		return res, fmt.Errorf("describe endpoint %s: %w", endpointType, err)
	}
	res.Endpoint = aws.ToString(ep.EndpointAddress)
	if res.Endpoint == "" {
		return res, fmt.Errorf("describe endpoint %s: AWS answered no address", endpointType)
	}

	if res.ThingArn, res.ThingCreated, err = p.thing(ctx, r); err != nil {
		return res, err
	}
	if res.EarlierPrincipals, err = p.principals(ctx, r.Device.ID); err != nil {
		return res, err
	}

	cert, err := p.iot.CreateKeysAndCertificate(ctx, &iot.CreateKeysAndCertificateInput{SetAsActive: true})
	if err != nil {
		return res, fmt.Errorf("create certificate: %w", err)
	}
	if cert.CertificateArn == nil || cert.CertificateId == nil || cert.CertificatePem == nil || cert.KeyPair == nil || cert.KeyPair.PrivateKey == nil {
		return res, errors.New("create certificate: AWS answered without the certificate or its private key")
	}
	res.CertificateID, res.CertificateArn = *cert.CertificateId, *cert.CertificateArn
	res.CertificatePEM, res.PrivateKeyPEM = *cert.CertificatePem, *cert.KeyPair.PrivateKey

	if _, err := p.iot.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String(r.Policy), Target: cert.CertificateArn}); err != nil {
		return res, p.undo(ctx, res, r, false, fmt.Errorf("attach policy %s to the certificate: %w", r.Policy, err))
	}
	if _, err := p.iot.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: aws.String(r.Device.ID), Principal: cert.CertificateArn}); err != nil {
		return res, p.undo(ctx, res, r, true, fmt.Errorf("attach the certificate to thing %s: %w", r.Device.ID, err))
	}
	return res, nil
}

// thing returns the ARN of the device's thing, creating it if it does not
// exist. An existing thing of another type (or none) is refused rather
// than changed: it may be someone else's registration.
func (p *Provisioner) thing(ctx context.Context, r Request) (arn string, created bool, err error) {
	want := thingAttributes(r.Device)
	got, err := p.iot.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(r.Device.ID)})
	var missing *types.ResourceNotFoundException
	switch {
	case errors.As(err, &missing):
		out, err := p.iot.CreateThing(ctx, &iot.CreateThingInput{
			ThingName:        aws.String(r.Device.ID),
			ThingTypeName:    aws.String(r.ThingType),
			AttributePayload: &types.AttributePayload{Attributes: want},
		})
		if err != nil {
			return "", false, fmt.Errorf("create thing %s: %w", r.Device.ID, err)
		}
		return aws.ToString(out.ThingArn), true, nil
	case err != nil:
		return "", false, fmt.Errorf("describe thing %s: %w", r.Device.ID, err)
	}
	if t := aws.ToString(got.ThingTypeName); t != r.ThingType {
		return "", false, fmt.Errorf("thing %s exists with thing type %q, not %q: change it with "+
			"aws iot update-thing --thing-name %s --thing-type-name %s, or delete it, then run this again",
			r.Device.ID, t, r.ThingType, r.Device.ID, r.ThingType)
	}
	if !maps.Equal(got.Attributes, want) {
		return "", false, fmt.Errorf("thing %s exists with attributes %v, the inventory says %v: fix them with aws iot update-thing, then run this again",
			r.Device.ID, got.Attributes, want)
	}
	return aws.ToString(got.ThingArn), false, nil
}

// thingAttributes are the thing's attributes, from the inventory: the
// thing type makes them searchable.
func thingAttributes(d domain.Device) map[string]string {
	return map[string]string{spec.ThingAttrKind: d.Kind, spec.ThingAttrAsset: d.Asset}
}

// principals lists what is attached to the thing already, every page.
func (p *Provisioner) principals(ctx context.Context, thing string) ([]string, error) {
	var all []string
	in := &iot.ListThingPrincipalsInput{ThingName: aws.String(thing)}
	for {
		out, err := p.iot.ListThingPrincipals(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list principals of thing %s: %w", thing, err)
		}
		all = append(all, out.Principals...)
		if aws.ToString(out.NextToken) == "" {
			return all, nil
		}
		in.NextToken = out.NextToken
	}
}

// undo removes a certificate a failed run created: the policy comes off
// if it was attached, then the certificate is deactivated (IoT deletes
// only inactive ones) and deleted. cause is the failure; a failed undo is
// added to it with the certificate's id, for a person to finish.
func (p *Provisioner) undo(ctx context.Context, res Result, r Request, policyAttached bool, cause error) error {
	id := aws.String(res.CertificateID)
	var errs []error
	if policyAttached {
		if _, err := p.iot.DetachPolicy(ctx, &iot.DetachPolicyInput{PolicyName: aws.String(r.Policy), Target: aws.String(res.CertificateArn)}); err != nil {
			errs = append(errs, fmt.Errorf("detach policy: %w", err))
		}
	}
	if _, err := p.iot.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: id, NewStatus: types.CertificateStatusInactive}); err != nil {
		errs = append(errs, fmt.Errorf("deactivate: %w", err))
	} else if _, err := p.iot.DeleteCertificate(ctx, &iot.DeleteCertificateInput{CertificateId: id}); err != nil {
		errs = append(errs, fmt.Errorf("delete: %w", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w; and the new certificate %s could not be removed (%w): revoke it with "+
			"aws iot update-certificate --certificate-id %s --new-status REVOKED", cause, res.CertificateID, errors.Join(errs...), res.CertificateID)
	}
	return fmt.Errorf("%w (the new certificate was deleted again; nothing was written)", cause)
}
