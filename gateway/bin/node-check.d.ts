export declare const MIN_NODE_MAJOR: number
export declare function nodeProblem(version: string, binPath: string): string | undefined
