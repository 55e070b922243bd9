package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/plainview/serverless/infra/spec"
	"github.com/plainview/serverless/shared/contract/apierror"
	"github.com/plainview/serverless/shared/contract/routes"
)

// stageName is the API's one stage. Customers on the custom domain never
// see it (the base path mapping hides it).
const stageName = "v1"

// addAPI builds the REST API from the route table: a resource per path
// segment, one method per route integrated with its function, the
// authorizer where the route needs a key, per-method throttles, CORS
// preflights and gateway responses in the API's error shape.
func (st *stack) addAPI() error {
	s := st.settings
	table := routes.Table()

	accessLogs := awslogs.NewLogGroup(st.scope, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     logRetention,
		RemovalPolicy: st.removalPolicy(),
	})

	// Per-method settings replace the stage's for that method, so each
	// repeats the stage's logging besides its own throttle.
	methodOptions := map[string]*awsapigateway.MethodDeploymentOptions{}
	for _, r := range table {
		if r.Throttle == (routes.Throttle{}) {
			continue // the stage's throttle only, as the local gateway does
		}
		o := &awsapigateway.MethodDeploymentOptions{
			ThrottlingRateLimit:  jsii.Number(r.Throttle.RatePerSecond),
			ThrottlingBurstLimit: jsii.Number(r.Throttle.Burst),
			LoggingLevel:         awsapigateway.MethodLoggingLevel_ERROR,
			DataTraceEnabled:     jsii.Bool(false),
			MetricsEnabled:       jsii.Bool(false),
		}
		methodOptions[methodOptionsKey(r)] = o
		if r.Method == http.MethodGet {
			// HEAD counts against the same figures (addHeadAndNotAllowed).
			methodOptions[methodOptionsKey(routes.Route{Method: http.MethodHead, Path: r.Path})] = o
		}
	}

	st.api = awsapigateway.NewRestApi(st.scope, jsii.String("Api"), &awsapigateway.RestApiProps{
		RestApiName: jsii.String("plainview-" + s.environment),
		Description: jsii.String("Plainview API, built from shared/contract/routes"),
		// Regional: no CloudFront in front that we did not ask for; a
		// custom domain (or a CDN of the operator's) goes in front of it.
		EndpointTypes: &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL},
		// Execution logging needs the account's API Gateway logging role;
		// the stack sets it (one per account and region). It is kept when
		// a stack goes: deleting the development stack must not stop the
		// production stack's logging in the same account.
		CloudWatchRole:              jsii.Bool(true),
		CloudWatchRoleRemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		DeployOptions: &awsapigateway.StageOptions{
			StageName:            jsii.String(stageName),
			ThrottlingRateLimit:  jsii.Number(s.stageRate),
			ThrottlingBurstLimit: jsii.Number(s.stageBurst),
			// Errors only: every request is in the access log already,
			// and INFO execution logs cost more than the requests.
			LoggingLevel:     awsapigateway.MethodLoggingLevel_ERROR,
			DataTraceEnabled: jsii.Bool(false), // would log bodies and headers, keys included
			// API-level metrics (requests, latency, 4xx, 5xx) come
			// without this; per-route figures are in the functions' EMF.
			MetricsEnabled:       jsii.Bool(false),
			TracingEnabled:       jsii.Bool(true),
			AccessLogDestination: awsapigateway.NewLogGroupLogDestination(accessLogs),
			AccessLogFormat:      awsapigateway.AccessLogFormat_Custom(jsii.String(accessLogFormat())),
			MethodOptions:        &methodOptions,
		},
	})

	authorizer := awsapigateway.NewRequestAuthorizer(st.scope, jsii.String("ApiKeyAuthorizer"), &awsapigateway.RequestAuthorizerProps{
		AuthorizerName: jsii.String("api-key"),
		Handler:        st.functions[spec.FuncAuthorizer],
		// The key is the whole identity: API Gateway caches the answer by
		// it, and refuses a request without it before calling anything.
		IdentitySources: &[]*string{awsapigateway.IdentitySource_Header(jsii.String(spec.AuthorizerIdentityHeader))},
		ResultsCacheTtl: awscdk.Duration_Seconds(jsii.Number(s.authorizerCacheTTL.Seconds())),
	})

	integrations := map[string]awsapigateway.LambdaIntegration{}
	var paths []string
	methods := map[string][]string{}
	for _, r := range table {
		fn, ok := st.functions[r.Function]
		if !ok {
			return fmt.Errorf("route %s: function %q is not in infra/spec", r.Pattern(), r.Function)
		}
		integration, ok := integrations[r.Function]
		if !ok {
			integration = awsapigateway.NewLambdaIntegration(fn, &awsapigateway.LambdaIntegrationOptions{
				Proxy: jsii.Bool(true),
				// No permission for the console's test invoke: one
				// permission per method instead of two.
				AllowTestInvoke: jsii.Bool(false),
			})
			integrations[r.Function] = integration
		}
		opts := &awsapigateway.MethodOptions{
			OperationName:     jsii.String(operationName(r)),
			AuthorizationType: awsapigateway.AuthorizationType_NONE,
		}
		if spec.NeedsAuthorizer(r, s.requireKeyForReads) {
			opts.AuthorizationType = awsapigateway.AuthorizationType_CUSTOM
			opts.Authorizer = authorizer
		}
		method := st.api.Root().ResourceForPath(jsii.String(r.Path)).AddMethod(jsii.String(r.Method), integration, opts)
		if r.Stream {
			streamIntegration(method, fn)
		}
		st.methods[r.Pattern()] = method
		if _, seen := methods[r.Path]; !seen {
			paths = append(paths, r.Path)
		}
		methods[r.Path] = append(methods[r.Path], r.Method)
	}

	if err := st.addHeadAndNotAllowed(table, paths, methods, authorizer); err != nil {
		return err
	}

	preflight, err := corsPreflight(s.corsOrigins)
	if err != nil {
		return err
	}
	for _, p := range paths {
		opts := *preflight
		opts.AllowMethods = jsii.Strings(append(methods[p], http.MethodOptions)...)
		st.api.Root().ResourceForPath(jsii.String(p)).AddCorsPreflight(&opts)
	}

	headers, err := gatewayResponseHeaders(s.corsOrigins)
	if err != nil {
		return err
	}
	for _, g := range spec.GatewayResponses() {
		h := map[string]*string{}
		for k, v := range headers {
			h[k] = v
		}
		if g.RetryAfter != "" {
			h["Retry-After"] = jsii.String(quote(g.RetryAfter))
		}
		opts := &awsapigateway.GatewayResponseOptions{
			Type:            awsapigateway.ResponseType_Of(jsii.String(g.Type)),
			ResponseHeaders: &h,
			Templates:       &map[string]*string{"application/json": jsii.String(g.Template())},
		}
		if code := g.StatusCode(); code != "" {
			opts.StatusCode = jsii.String(code)
		}
		st.api.AddGatewayResponse(jsii.String(spec.LogicalID(strings.ToLower(g.Type))), opts)
	}

	if s.domainName != "" {
		domain := st.api.AddDomainName(jsii.String("Domain"), &awsapigateway.DomainNameOptions{
			DomainName:     jsii.String(s.domainName),
			Certificate:    awscertificatemanager.Certificate_FromCertificateArn(st.scope, jsii.String("Certificate"), jsii.String(s.certificateARN)),
			EndpointType:   awsapigateway.EndpointType_REGIONAL,
			SecurityPolicy: awsapigateway.SecurityPolicy_TLS_1_2,
		})
		awscdk.NewCfnOutput(st.scope, jsii.String("CustomDomainTarget"), &awscdk.CfnOutputProps{
			Description: jsii.String("Point a CNAME (or alias) for " + s.domainName + " here"),
			Value:       domain.DomainNameAliasDomainName(),
		})
	}
	awscdk.NewCfnOutput(st.scope, jsii.String("ApiUrl"), &awscdk.CfnOutputProps{
		Description: jsii.String("The API's URL"),
		Value:       st.api.Url(),
	})
	return nil
}

// addHeadAndNotAllowed gives the API what the local gateway does beyond
// the table: HEAD on every GET route, on the same function, key and
// throttle; and on every path an ANY method, which API Gateway takes for
// any method the path has not, answering 405 with Allow in the error
// shape (without it, a wrong method gets the 403 of an unknown path).
//
// The HEAD methods share one Lambda permission per function (HEAD on any
// path of this API), not one each as the route methods have: those fill
// the function's resource policy, which holds 20 KB.
func (st *stack) addHeadAndNotAllowed(table []routes.Route, paths []string, methods map[string][]string, authorizer awsapigateway.IAuthorizer) error {
	heads := map[string]awsapigateway.Integration{}
	for _, r := range table {
		if r.Method != http.MethodGet {
			continue
		}
		head, ok := heads[r.Function]
		if !ok {
			fn := st.functions[r.Function]
			head = awsapigateway.NewIntegration(&awsapigateway.IntegrationProps{
				Type:                  awsapigateway.IntegrationType_AWS_PROXY,
				IntegrationHttpMethod: jsii.String(http.MethodPost),
				Uri: jsii.String(fmt.Sprintf("arn:%s:apigateway:%s:lambda:path/2015-03-31/functions/%s/invocations",
					*awscdk.Aws_PARTITION(), *awscdk.Aws_REGION(), *fn.FunctionArn())),
			})
			fn.AddPermission(jsii.String("ApiHead"), &awslambda.Permission{
				Principal: awsiam.NewServicePrincipal(jsii.String("apigateway.amazonaws.com"), nil),
				Action:    jsii.String("lambda:InvokeFunction"),
				SourceArn: st.api.ArnForExecuteApi(jsii.String(http.MethodHead), jsii.String("/*"), jsii.String(stageName)),
			})
			heads[r.Function] = head
		}
		opts := &awsapigateway.MethodOptions{
			OperationName:     jsii.String(operationName(routes.Route{Method: http.MethodHead, Path: r.Path})),
			AuthorizationType: awsapigateway.AuthorizationType_NONE,
		}
		if spec.NeedsAuthorizer(r, st.settings.requireKeyForReads) {
			opts.AuthorizationType = awsapigateway.AuthorizationType_CUSTOM
			opts.Authorizer = authorizer
		}
		method := st.api.Root().ResourceForPath(jsii.String(r.Path)).AddMethod(jsii.String(http.MethodHead), head, opts)
		if r.Stream {
			// The function answers every request in the streamed format.
			streamIntegration(method, st.functions[r.Function])
		}
		st.methods[routes.Route{Method: http.MethodHead, Path: r.Path}.Pattern()] = method
	}
	for _, p := range paths {
		allow := routes.Allow(methods[p])
		body := fmt.Sprintf(`{"error":{"code":%q,"message":"$context.httpMethod is not allowed on $context.resourcePath; allowed: %s"}}`,
			apierror.CodeMethodNotAllowed, allow)
		mock := awsapigateway.NewMockIntegration(&awsapigateway.IntegrationOptions{
			RequestTemplates: &map[string]*string{"application/json": jsii.String(`{"statusCode": 405}`)},
			IntegrationResponses: &[]*awsapigateway.IntegrationResponse{{
				StatusCode:         jsii.String("405"),
				ResponseParameters: &map[string]*string{"method.response.header.Allow": jsii.String(quote(allow))},
				ResponseTemplates:  &map[string]*string{"application/json": jsii.String(body)},
			}},
		})
		st.methods[routes.Route{Method: "ANY", Path: p}.Pattern()] = st.api.Root().ResourceForPath(jsii.String(p)).AddMethod(jsii.String("ANY"), mock, &awsapigateway.MethodOptions{
			OperationName:     jsii.String(operationName(routes.Route{Method: "ANY", Path: p})),
			AuthorizationType: awsapigateway.AuthorizationType_NONE,
			MethodResponses: &[]*awsapigateway.MethodResponse{{
				StatusCode:         jsii.String("405"),
				ResponseParameters: &map[string]*bool{"method.response.header.Allow": jsii.Bool(true)},
			}},
		})
	}
	return nil
}

// streamIntegration makes a method's Lambda proxy integration stream the
// function's answer (docs: "Stream the integration response for your proxy
// integrations in API Gateway"): responseTransferMode STREAM, the
// InvokeWithResponseStream URI (API version 2021-11-15,
// response-streaming-invocations) and the streamed integration's timeout.
// This CDK version has no option for it, so the properties are set on the
// CloudFormation method; the invoke permission the LambdaIntegration
// granted (lambda:InvokeFunction) covers InvokeWithResponseStream.
func streamIntegration(m awsapigateway.Method, fn awslambda.IFunction) {
	cfn := m.Node().DefaultChild().(awsapigateway.CfnMethod)
	cfn.AddPropertyOverride(jsii.String("Integration.ResponseTransferMode"), jsii.String("STREAM"))
	cfn.AddPropertyOverride(jsii.String("Integration.Uri"), awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("arn:"), awscdk.Aws_PARTITION(), jsii.String(":apigateway:"), awscdk.Aws_REGION(),
		jsii.String(":lambda:path/2021-11-15/functions/"), fn.FunctionArn(), jsii.String("/response-streaming-invocations"),
	}))
	cfn.AddPropertyOverride(jsii.String("Integration.TimeoutInMillis"), jsii.Number(spec.StreamTimeout.Milliseconds()))
}

// methodOptionsKey is a route's key in the stage's method options:
// "<resource path>/<METHOD>", which the CDK turns into API Gateway's
// escaped resource path ("/~1valves~1{id}~1actuate"). The root is "//GET".
func methodOptionsKey(r routes.Route) string {
	if r.Path == "/" {
		return "//" + r.Method
	}
	return r.Path + "/" + r.Method
}

// operationName names a method for SDK generators and the console:
// "GET /valves/{id}/actuations" becomes "getValvesIdActuations".
func operationName(r routes.Route) string {
	id := spec.LogicalID(strings.ToLower(r.Method) + " " + r.Path)
	if r.Path == "/" {
		id += "Root"
	}
	return strings.ToLower(id[:1]) + id[1:]
}

// corsPreflight is the CORS preflight of every resource: the allow-list of
// the deployment with the headers and lifetime of shared/api/cors.
func corsPreflight(origins string) (*awsapigateway.CorsOptions, error) {
	c, err := spec.CORSHeaders()
	if err != nil {
		return nil, err
	}
	opts := &awsapigateway.CorsOptions{
		AllowOrigins: jsii.Strings(spec.Origins(origins)...),
		AllowHeaders: jsii.Strings(c.AllowHeaders...),
		MaxAge:       awscdk.Duration_Seconds(jsii.Number(c.MaxAge)),
		StatusCode:   jsii.Number(http.StatusNoContent),
	}
	if slices.Contains(spec.Origins(origins), "*") {
		opts.AllowOrigins = awsapigateway.Cors_ALL_ORIGINS()
	}
	return opts, nil
}

// gatewayResponseHeaders are the headers of every answer API Gateway makes
// itself: a page cannot react to a 401 or a 429 it is not allowed to read.
//
// A gateway response's headers are fixed or copied from the request; they
// cannot test the origin against a list. With one origin (or *) the header
// is that origin; with several it repeats the request's Origin. That lets
// any page read these answers, which are errors holding nothing but the
// error (no data of ours): the functions' answers, which hold data, apply
// the allow-list exactly.
func gatewayResponseHeaders(origins string) (map[string]*string, error) {
	c, err := spec.CORSHeaders()
	if err != nil {
		return nil, err
	}
	h := map[string]*string{
		"Access-Control-Expose-Headers": jsii.String(quote(strings.Join(c.ExposeHeaders, ", "))),
		"Vary":                          jsii.String(quote("Origin")),
		"X-Content-Type-Options":        jsii.String(quote("nosniff")),
	}
	switch list := spec.Origins(origins); {
	case slices.Contains(list, "*"):
		h["Access-Control-Allow-Origin"] = jsii.String(quote("*"))
	case len(list) == 1:
		h["Access-Control-Allow-Origin"] = jsii.String(quote(list[0]))
	case len(list) > 1:
		h["Access-Control-Allow-Origin"] = jsii.String("method.request.header.Origin")
	}
	return h, nil
}

// quote makes v a static value of an API Gateway header mapping.
func quote(v string) string { return "'" + v + "'" }

// accessLogFormat is one JSON line per request. Values that can hold any
// text are API Gateway's JSON-quoted variables ($context.error.messageString)
// or quoted strings of known shape; numbers that are "-" when absent are
// quoted too, so the line is always valid JSON.
func accessLogFormat() string {
	fields := []struct{ name, value string }{
		{"request_id", `"$context.requestId"`},
		{"extended_request_id", `"$context.extendedRequestId"`},
		{"request_time_ms", `$context.requestTimeEpoch`},
		{"ip", `"$context.identity.sourceIp"`},
		{"method", `"$context.httpMethod"`},
		{"resource_path", `"$context.resourcePath"`},
		{"path", `"$context.path"`},
		{"protocol", `"$context.protocol"`},
		{"status", `$context.status`},
		{"response_length", `"$context.responseLength"`},
		{"response_latency_ms", `$context.responseLatency`},
		{"integration_latency_ms", `"$context.integrationLatency"`},
		{"integration_status", `"$context.integration.status"`},
		{"authorizer_status", `"$context.authorizer.status"`},
		{"authorizer_latency_ms", `"$context.authorizer.latency"`},
		{"key_id", `"$context.authorizer.key_id"`},
		{"error_type", `"$context.error.responseType"`},
		{"error", `$context.error.messageString`},
		{"xray_trace_id", `"$context.xrayTraceId"`},
	}
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = `"` + f.name + `":` + f.value
	}
	return "{" + strings.Join(parts, ",") + "}"
}
