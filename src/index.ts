import { run } from './main.ts'
import { post } from './post.ts'
import { isPost, markMainStarted } from './state.ts'
import { useEnvProxy } from './proxy.ts'

// Before any request, in both steps: the post step cancels a push at the gateway.
useEnvProxy(process.env)

// One bundle for both steps of action.yml, as actions/checkout does: the post step is the run
// in which the main step's saved flag comes back.
/* istanbul ignore next */
if (isPost()) {
  await post()
} else {
  markMainStarted()
  await run()
}
